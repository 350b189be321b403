"""Prometheus metrics at ``GET /metrics``: calls, steps, latency, transaction outcomes.

Each app gets its own registry, so several apps in one process (tests) do not
collide.  Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory shared by the workers and ``/metrics`` adds up all of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase

from ivr.web.calls import FINAL_STATUSES, ONGOING_STATUSES

__all__ = ["OTHER", "TWILIO_CALL_STATUSES", "BoundedLabels", "Metrics", "bp", "install_metrics", "observe_request"]

bp = Blueprint("metrics", __name__)

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

OTHER = "other"
"""The label value that stands for every value a metric does not know."""

TWILIO_CALL_STATUSES = ONGOING_STATUSES | FINAL_STATUSES
"""The ``CallStatus`` values Twilio sends (ivr.web.calls has them, before and at the end of a call)."""

APOLOGY_REASONS = frozenset({"bad request", "store", "bug"})
"""Why a caller was told the service is unavailable (voice.py names these)."""

VOICE_ENDPOINTS = frozenset({"incoming", "step", "status"})
"""The voice blueprint's views, timed by ``ivr_webhook_seconds``."""

M = TypeVar("M", bound=MetricWrapperBase)
_KEPT_CHILDREN = 1024
"""Label children kept ready per metric, a few times over (the first values asked for)."""


class BoundedLabels(Generic[M]):
    """A labelled metric whose labels take only the values it was given; anything else counts as :data:`OTHER`.

    Every distinct label value is a time series Prometheus keeps for good, so a
    label fed from a request (a status callback's ``CallStatus``, a node read
    back from the store) must never take a value an outsider chose: 150 junk
    posts would make 150 series.  Each metric names its labels' allowed values
    once, here, and no caller can go around them.
    """

    def __init__(self, metric: M, allowed: Mapping[str, Collection[str]]) -> None:
        names = tuple(metric._labelnames)  # prometheus_client keeps no public accessor for them
        if set(names) != set(allowed):
            raise ValueError(f"{metric._name}: give the allowed values of exactly its labels {names}")
        self.metric = metric
        self._allowed = tuple(frozenset(allowed[name]) for name in names)
        self._children: dict[tuple[object, ...], M] = {}
        """The children already asked for, by the values given: every step asks again."""

    def labels(self, *values: object) -> M:
        """The child for ``values``, each one replaced by :data:`OTHER` when its label does not allow it."""
        child = self._children.get(values)
        if child is not None:
            return child
        if len(values) != len(self._allowed):
            raise ValueError(f"{self.metric._name}: {len(self._allowed)} label values expected, got {len(values)}")
        bounded = [str(v) if str(v) in ok else OTHER for v, ok in zip(values, self._allowed, strict=True)]
        child = self.metric.labels(*bounded)
        if len(self._children) < 4 * _KEPT_CHILDREN:  # a junk value is mapped each time, not kept for ever
            self._children[values] = child
        return child

    def allow(self, label: str, values: Iterable[str]) -> None:
        """Let ``label`` take ``values`` too (the nodes of a new publication: its author's, never a caller's)."""
        names = tuple(self.metric._labelnames)
        i = names.index(label)
        self._allowed = (*self._allowed[:i], self._allowed[i] | frozenset(values), *self._allowed[i + 1 :])
        self._children.clear()  # a value that counted as "other" may now be allowed


class Metrics:
    """The hotline's counters and histograms, in a registry of their own.

    ``menu_id``, ``nodes`` and ``services`` (each service's name and the
    outcomes it may return) are the values the menu's labels may take.
    """

    def __init__(
        self,
        menu_id: str = "",
        nodes: Iterable[str] = (),
        services: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        services = services or {}
        # A service that failed counts as "error" (ivr.session), whatever the service.
        outcomes = {"error"}.union(*(set(o) for o in services.values()))
        self.calls = BoundedLabels(
            Counter("ivr_calls_started", "Calls answered.", ["menu"], registry=r), {"menu": {menu_id}}
        )
        self.calls_ended = BoundedLabels(
            Counter("ivr_calls_ended", "Calls closed by Twilio's status callback.", ["status"], registry=r),
            {"status": FINAL_STATUSES},
        )
        self.steps = BoundedLabels(
            Counter("ivr_steps", "Webhook steps served, by the node the call moved to.", ["node"], registry=r),
            {"node": frozenset(nodes)},
        )
        self.latency = BoundedLabels(
            Histogram("ivr_webhook_seconds", "Time to answer a webhook.", ["endpoint"], buckets=_BUCKETS, registry=r),
            {"endpoint": VOICE_ENDPOINTS},
        )
        self.outcomes = BoundedLabels(
            Counter(
                "ivr_transactions",
                "Service calls by outcome (error: the service failed).",
                ["service", "outcome"],
                registry=r,
            ),
            {"service": frozenset(services), "outcome": outcomes},
        )
        self.apologies = BoundedLabels(
            Counter("ivr_apologies", "Calls told the service is temporarily unavailable.", ["reason"], registry=r),
            {"reason": APOLOGY_REASONS},
        )

    def learn_menu(self, menu_id: str, nodes: Iterable[str]) -> None:
        """Let the labels take the id and nodes of a menu the service now serves (a new publication)."""
        self.calls.allow("menu", (menu_id,))
        self.steps.allow("node", nodes)

    def observe_webhook(self, view: str, seconds: float, node: str, menu_id: str) -> None:
        """Count a voice webhook answered: its latency, the node a step moved to, a new call under its menu."""
        self.latency.labels(view).observe(seconds)
        if node:
            self.steps.labels(node).inc()
            if view == "incoming":
                self.calls.labels(menu_id).inc()

    def observe_events(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Count what a step's events say: service outcomes and new calls."""
        for kind, _node, detail in events:
            if kind == "service":
                self.outcomes.labels(str(detail.get("service", "")), str(detail.get("outcome", ""))).inc()

    def export(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus scrape endpoint."""
    body, content_type = current_app.extensions["ivr_metrics"].export()
    return Response(body, mimetype=content_type.split(";")[0], headers={"Content-Type": content_type})


def install_metrics(app: Flask) -> Metrics:
    """Time the voice webhooks and serve ``/metrics``."""
    state = app.extensions["ivr"]  # create_app puts its state there first
    menu = state.current_menu().menu
    m = Metrics(menu.id, menu.nodes, {name: spec.outcomes for name, spec in state.registry.items()})
    state.menus.on_load = lambda served: m.learn_menu(served.menu.id, served.menu.nodes)
    app.extensions["ivr_metrics"] = m
    app.register_blueprint(bp)
    return m


def observe_request(m: Metrics, started: float | None) -> None:
    """Count the voice webhook being answered: its latency, its step, a new call (``started``: its perf_counter)."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith("voice."):
        return
    if started is not None:
        m.observe_webhook(endpoint[6:], time.perf_counter() - started, g.get("ivr_node", ""), g.get("ivr_menu", ""))
