"""A hostile probe of the operations side (issue 15): metrics, logs, /healthz, signatures.

- Metric labels take only the values they know: junk from a request counts as
  ``other`` and never makes a new time series.
- No log line of the ``ivr`` loggers is over 4 KB, whatever a request carries.
- /healthz never names the database's host, port or file.
- ``ivr serve`` warns when it is reachable by others and unprotected, and the
  signature check uses the URL Twilio called.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.web import app_state
from ivr.web.calls import FINAL_STATUSES, ONGOING_STATUSES
from ivr.web.logs import MAX_LINE_BYTES, JsonFormatter, clip
from ivr.web.metrics import OTHER, BoundedLabels, Metrics
from tests.test_admin import admin_config, form_token
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


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_twilio_final_statuses_keep_series_of_their_own(make_app: AppFactory, status: str) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/status", data={"CallSid": SID, "CallStatus": status})  # a call the store never saw
    assert not [s for s in _series(app) if s.startswith("ivr_calls_ended_total")]
    client.post("/voice", data={"CallSid": SID})
    client.post("/status", data={"CallSid": SID, "CallStatus": status})
    assert f'ivr_calls_ended_total{{status="{status}"}}' in _series(app)


@pytest.mark.parametrize("status", sorted(ONGOING_STATUSES))
def test_callbacks_before_the_end_count_no_ended_call(make_app: AppFactory, status: str) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/voice", data={"CallSid": SID})
    client.post("/status", data={"CallSid": SID, "CallStatus": status})
    assert not [s for s in _series(app) if s.startswith("ivr_calls_ended_total")]
    assert "<Gather" in client.post("/voice", data={"CallSid": SID}).get_data(as_text=True)  # still on


def test_a_junk_final_status_is_stored_as_other(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    client.post("/voice", data={"CallSid": SID})
    client.post("/status", data={"CallSid": SID, "CallStatus": "x" * 5000})
    stored = app_state(app).runner.store.load(SID)
    assert stored is not None and stored.status == "other"
    assert "xxxxx" not in str(app_state(app).runner.store.events(SID))


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


# -- item 7: logs ----------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the ``ivr`` loggers write, formatted as the app's own handler formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ivr")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    out = []
    for line in stream.getvalue().splitlines():
        assert len(line.encode("utf-8")) <= MAX_LINE_BYTES, line[:300]
        out.append(json.loads(line))
    return out


def _hostile_requests(client: Any) -> int:
    """Every endpoint, with a huge value in each field and header in turn; how many requests were made."""
    # Form values fill the body up to its limit (64 KB); elsewhere, control characters, which JSON
    # escapes to six bytes each.
    field = "9" * (60_000)
    big = "\x01" * HUGE
    made = 0
    for path in ("/voice", "/voice/step?s=1", "/status"):
        for name in ("CallSid", "From", "Digits", "CallStatus"):
            assert client.post(path, data={"CallSid": SID, name: field}).status_code != 413
        client.post(path + ("&" if "?" in path else "?") + "q=" + big, data={"CallSid": SID})
        client.post(path, data={"CallSid": SID}, headers={"X-Twilio-Signature": big, "User-Agent": big})
        made += 6
    client.post("/voice/" + "x/" * (HUGE // 2), data={"CallSid": SID})
    for path in ("/healthz", "/metrics", "/admin/login"):
        client.get(path + "?q=" + big, headers={"Host": "h" * 200, "X-Forwarded-For": big})
    client.get("/" + "é" * HUGE)
    token = form_token(client.get("/admin/login"))
    form = {"csrf_token": token, "password": field, "next": "/admin/" + "n" * 3000}
    client.post("/admin/login", data=form, headers={"X-Forwarded-For": big})
    return made + 7


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "token"])
def test_no_log_line_is_over_4_kb_whatever_a_request_carries(
    make_app: AppFactory, log_lines: io.StringIO, signed: bool
) -> None:
    extra = {"TWILIO_AUTH_TOKEN": TOKEN} if signed else {}
    app = make_app(LOG_LEVEL="INFO", TRUSTED_PROXIES=1, **admin_config(), **extra)
    made = _hostile_requests(app.test_client())
    lines = _lines(log_lines)
    access = [line for line in lines if line["logger"] == "ivr.access"]
    assert len(access) == made  # every request was logged, cut short
    assert any("…[truncated" in str(line.get("path", "")) for line in access)
    assert any(line["msg"].startswith("admin login failed from") for line in lines)
    if signed:
        assert any(line["msg"].startswith("forged or unsigned request refused") for line in lines)


def test_a_huge_call_sid_never_becomes_the_logged_call_sid(make_app: AppFactory, log_lines: io.StringIO) -> None:
    app = make_app(LOG_LEVEL="INFO")
    client = app.test_client()
    big = "CA" + "9" * HUGE
    assert client.post("/voice", data={"CallSid": big}).status_code == 200  # a polite apology
    assert client.post("/status", data={"CallSid": big, "CallStatus": "completed"}).status_code == 400
    access = [line for line in _lines(log_lines) if line["logger"] == "ivr.access"]
    assert [line["call_sid"] for line in access] == ["", ""]


def test_a_long_traceback_is_cut_in_the_middle(
    make_app: AppFactory, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()

    def broken(*_: Any) -> Any:
        raise RuntimeError("boom " + "y" * HUGE + " the end")

    monkeypatch.setattr(app_state(app).runner, "incoming", broken)
    assert app.test_client().post("/voice", data={"CallSid": SID}).status_code == 200
    (failed,) = [line for line in _lines(log_lines) if line["msg"] == "webhook failed"]
    assert "Traceback" in failed["exc"] and failed["exc"].endswith("the end")
    assert "…[truncated" in failed["exc"]


def test_the_formatter_bounds_any_record() -> None:
    fmt = JsonFormatter()
    record = logging.LogRecord("ivr.x", logging.WARNING, __file__, 1, "m %s", ("é" * HUGE,), None)
    record.fields = {f"k{i}": "\x00" * 5000 for i in range(40)} | {"n": 7}
    line = fmt.format(record)
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES
    parsed = json.loads(line)
    assert parsed["level"] == "warning" and parsed["msg"].startswith("m éé")
    # A lone surrogate (which UTF-8 cannot hold) is written escaped, not dropped with the line.
    record = logging.LogRecord("ivr.x", logging.INFO, __file__, 1, "bad \udc80 text", None, None)
    line = fmt.format(record)
    line.encode("utf-8")
    assert json.loads(line)["msg"] == "bad \udc80 text"


def test_clip_says_how_much_it_cut() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("a" * 10, 4) == "aaaa…[truncated 6 chars]"
    assert clip("0123456789", 4, keep_end=True) == "01…[truncated 6 chars]89"


# -- item 11: /healthz -----------------------------------------------------------------------------


def _store_down_urls(tmp_path: Path) -> list[tuple[str, list[str]]]:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return [
        # Nothing listens on port 1: the driver's error names the host and port.
        ("postgresql+psycopg://postgres@127.0.0.1:1/test", ["127.0.0.1", "port", ":1", "psycopg", "refused"]),
        # A directory that cannot exist (a file stands in the way): the driver may name the path.
        (f"sqlite:///{blocker / 'sub' / 'ivr.db'}", [str(tmp_path), "a-file", "sqlite", "unable to open"]),
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["postgresql-closed-port", "sqlite-impossible-path"])
def test_healthz_with_the_store_down_names_no_host_port_or_path(
    make_app: AppFactory, tmp_path: Path, log_lines: io.StringIO, which: int
) -> None:
    url, secrets = _store_down_urls(tmp_path)[which]
    app = make_app(DATABASE_URL=url)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "store": "store unavailable"}
    body = resp.get_data(as_text=True).lower()
    assert not [s for s in secrets if s.lower() in body]
    status = app.test_client().post("/status", data={"CallSid": SID, "CallStatus": "completed"})
    assert status.status_code == 503 and status.get_data(as_text=True) == "store unavailable\n"
    # Whoever runs the service still learns what went wrong, from the log.
    assert any(line["msg"].startswith("health check: store unavailable:") for line in _lines(log_lines))


# -- item 12: signatures and `ivr serve` ---------------------------------------------------------------


def _sign(url: str, form: dict[str, str]) -> str:
    return str(RequestValidator(TOKEN).compute_signature(url, form))


def test_a_signature_is_checked_against_the_public_url_under_the_apps_mount_point(make_app: AppFactory) -> None:
    # Behind a proxy that mounts the app at /ivr, Twilio calls https://ivr.example.com/ivr/voice.
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL="https://ivr.example.com")
    form = {"CallSid": SID}
    client = app.test_client()

    def post(signed_for: str) -> int:
        headers = {"X-Twilio-Signature": _sign(signed_for, form)}
        return int(client.post("/voice", data=form, headers=headers, base_url="http://10.0.0.5/ivr").status_code)

    assert post("https://ivr.example.com/voice") == 403
    assert post("https://ivr.example.com/ivr/voice") == 200


def test_a_public_url_ignores_the_host_header_a_request_names(make_app: AppFactory) -> None:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL="https://ivr.example.com")
    form = {"CallSid": SID}
    headers = {"X-Twilio-Signature": _sign("https://evil.example/voice", form), "Host": "evil.example"}
    assert (
        app.test_client().post("/voice", data=form, headers=headers, base_url="https://evil.example").status_code == 403
    )


def test_development_without_a_public_url_says_once_that_the_host_header_decides(
    make_app: AppFactory, log_lines: io.StringIO
) -> None:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN)
    client = app.test_client()
    for _ in range(3):
        client.post("/voice", data={"CallSid": SID})
    warned = [line for line in _lines(log_lines) if "Host header" in line["msg"]]
    assert len(warned) == 1 and "IVR_PUBLIC_URL" in warned[0]["msg"]


_SETTINGS = ("TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_TRUSTED_PROXIES", "IVR_ENV", "IVR_INSECURE", "IVR_CONFIG")


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs ``ivr serve`` with ``env`` and nothing listening; gives the result and whether Flask.run was reached."""
    from ivr.cli import main

    for name in _SETTINGS:
        monkeypatch.delenv(name, raising=False)
    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: ran.append(kw))

    def run(host: str, **env: str) -> tuple[Any, bool]:
        env = {"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", **env}
        result = CliRunner().invoke(main, ["serve", "--host", host, "--port", "5999"], env=env)
        return result, bool(ran)

    return run


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "ivr.example.com"])
def test_serving_to_others_without_a_token_warns_that_anyone_can_drive_any_call(serve: Any, host: str) -> None:
    result, ran = serve(host)
    assert result.exit_code == 0 and ran
    assert "anyone who can reach it can drive any call" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_serving_on_loopback_does_not_warn(serve: Any, host: str) -> None:
    result, ran = serve(host)
    assert result.exit_code == 0 and ran
    assert "warning" not in result.stderr


def test_serving_to_others_with_a_token_but_no_public_url_warns_of_the_host_header(serve: Any) -> None:
    result, _ = serve("0.0.0.0", TWILIO_AUTH_TOKEN=TOKEN)
    assert "signatures are checked against the Host header each request names" in result.stderr
    assert "anyone who can reach it" not in result.stderr
    for protected in ({"IVR_PUBLIC_URL": "https://ivr.example.com"}, {"IVR_TRUSTED_PROXIES": "1"}):
        result, _ = serve("0.0.0.0", TWILIO_AUTH_TOKEN=TOKEN, **protected)
        assert result.exit_code == 0 and "warning" not in result.stderr


def test_the_development_servers_request_lines_are_cut_short(serve: Any) -> None:
    serve("127.0.0.1")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(handler)
    level = werkzeug.level
    werkzeug.setLevel(logging.INFO)  # as the server sets it when it first logs
    try:
        werkzeug.info('%s - - [%s] "%s" %s -', "127.0.0.1", "now", "GET /" + "x" * HUGE + " HTTP/1.1", 404)
    finally:
        werkzeug.removeHandler(handler)
        werkzeug.setLevel(level)
    line = stream.getvalue()
    assert len(line.encode("utf-8")) <= MAX_LINE_BYTES and "…[truncated" in line and line.startswith("127.0.0.1")


def test_production_with_a_token_but_no_public_url_nor_proxies_refuses_to_serve(serve: Any) -> None:
    result, ran = serve("0.0.0.0", IVR_ENV="production", TWILIO_AUTH_TOKEN=TOKEN)
    assert result.exit_code == 2 and not ran
    assert "refusing to start in production without IVR_PUBLIC_URL or IVR_TRUSTED_PROXIES" in result.stderr
    assert "Traceback" not in result.output
