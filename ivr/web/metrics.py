"""Prometheus metrics at ``GET /metrics``: calls, steps, latency, transaction outcomes.

Each app gets its own registry, so several apps in one process (tests) do not
collide.  Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory shared by the workers and ``/metrics`` adds up all of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "bp", "install_metrics"]

bp = Blueprint("metrics", __name__)

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The hotline's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter("ivr_calls_started", "Calls answered.", ["menu"], registry=r)
        self.calls_ended = Counter(
            "ivr_calls_ended", "Calls closed by Twilio's status callback.", ["status"], registry=r
        )
        self.steps = Counter("ivr_steps", "Webhook steps served, by the node the call moved to.", ["node"], registry=r)
        self.latency = Histogram(
            "ivr_webhook_seconds", "Time to answer a webhook.", ["endpoint"], buckets=_BUCKETS, registry=r
        )
        self.outcomes = Counter(
            "ivr_transactions",
            "Service calls by outcome (error: the service failed).",
            ["service", "outcome"],
            registry=r,
        )
        self.apologies = Counter(
            "ivr_apologies", "Calls told the service is temporarily unavailable.", ["reason"], registry=r
        )

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
    m = Metrics()
    app.extensions["ivr_metrics"] = m

    @app.before_request
    def _start_timer() -> None:
        g.ivr_metrics_t0 = time.perf_counter()

    @app.after_request
    def _observe(resp: Response) -> Response:
        endpoint = request.endpoint or ""
        if endpoint.startswith("voice."):
            t0 = g.get("ivr_metrics_t0")
            if t0 is not None:
                m.latency.labels(endpoint.removeprefix("voice.")).observe(time.perf_counter() - t0)
            node = g.get("ivr_node")
            if node:
                m.steps.labels(node).inc()
            if endpoint == "voice.incoming" and node:
                m.calls.labels(current_app.extensions["ivr"].engine.menu.id).inc()
        return resp

    app.register_blueprint(bp)
    return m
