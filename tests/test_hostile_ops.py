"""A hostile probe of the operations side (issue 15): metrics, logs, /healthz, signatures.

- Metric labels take only the values they know: junk from a request counts as
  ``other`` and never makes a new time series.
- No log line of the ``ivr`` loggers is over 4 KB, whatever a request carries.
- /healthz never names the database's host, port or file.
- ``ivr serve`` warns when it is reachable by others and unprotected, and the
  signature check uses the URL Twilio called.
"""

from __future__ import annotations

import pytest
from flask import Flask

from ivr.web.metrics import OTHER, TWILIO_CALL_STATUSES, BoundedLabels, Metrics
from tests.webapp import AppFactory

TOKEN = "12345"
SID = "CA" + "7" * 32
HUGE = 60_000


def _series(app: Flask) -> list[str]:
    """The time series /metrics shows, one per sample line."""
    body = app.test_client().get("/metrics").get_data(as_text=True)
    return [line.rsplit(" ", 1)[0] for line in body.splitlines() if line and not line.startswith("#")]


# -- item 6: metrics -------------------------------------------------------------------------------


def test_junk_call_statuses_add_no_metric_series(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/voice", data={"CallSid": SID})
    client.post("/status", data={"CallSid": SID, "CallStatus": "not-a-status"})  # the one "other" series
    before = _series(app)
    for i in range(150):
        client.post("/status", data={"CallSid": SID, "CallStatus": f"junk-{i}"})
    after = _series(app)
    assert len(after) == len(before)
    assert 'ivr_calls_ended_total{status="other"}' in after
    assert not [s for s in after if "junk" in s]


@pytest.mark.parametrize("status", sorted(TWILIO_CALL_STATUSES))
def test_twilio_call_statuses_keep_series_of_their_own(make_app: AppFactory, status: str) -> None:
    app = make_app()
    app.test_client().post("/status", data={"CallSid": SID, "CallStatus": status})
    assert f'ivr_calls_ended_total{{status="{status}"}}' in _series(app)


def test_every_label_counts_values_it_does_not_know_as_other() -> None:
    m = Metrics("12333", ["main", "ecard"], {"card.activate": ["done", "wrong_password"]})
    m.steps.labels("main").inc()
    m.steps.labels("a node of an older menu").inc()
    m.calls.labels("another menu").inc()
    m.latency.labels("nowhere").observe(0.1)
    m.apologies.labels("made up").inc()
    m.observe_events(
        [
            ("service", "main", {"service": "card.activate", "outcome": "done"}),
            ("service", "main", {"service": "card.activate", "outcome": "error"}),
            ("service", "main", {"service": "evil", "outcome": "x" * 500}),
        ]
    )
    body = m.export()[0].decode()
    assert 'ivr_steps_total{node="main"} 1.0' in body and 'ivr_steps_total{node="other"} 1.0' in body
    assert 'ivr_calls_started_total{menu="other"} 1.0' in body
    assert 'ivr_webhook_seconds_count{endpoint="other"} 1.0' in body
    assert 'ivr_apologies_total{reason="other"} 1.0' in body
    assert 'ivr_transactions_total{outcome="done",service="card.activate"} 1.0' in body
    assert 'ivr_transactions_total{outcome="error",service="card.activate"} 1.0' in body
    assert 'ivr_transactions_total{outcome="other",service="other"} 1.0' in body
    assert "evil" not in body and "older" not in body and "xxx" not in body


def test_the_app_labels_steps_with_its_own_menu_nodes_and_services(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/voice", data={"CallSid": SID})
    client.post("/voice/step?s=1", data={"CallSid": SID, "Digits": "0"})  # main → agent (agent.hours)
    series = _series(app)
    assert 'ivr_steps_total{node="main"}' in series
    assert 'ivr_transactions_total{outcome="open",service="agent.hours"}' in series
    assert not [s for s in series if OTHER in s]


def test_a_bounded_metric_must_name_the_values_of_exactly_its_labels() -> None:
    from prometheus_client import CollectorRegistry, Counter

    counter = Counter("c", "c", ["a", "b"], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="exactly its labels"):
        BoundedLabels(counter, {"a": {"x"}})
