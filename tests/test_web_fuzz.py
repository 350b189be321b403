"""Hostile input to the webhook: whatever the form says, never a 500, always valid TwiML."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.phone.twiml import Gather
from ivr.web import app_state
from tests.twiml_tools import WebCall, assert_valid_twiml
from tests.webapp import build_app

FIELDS = ["CallSid", "From", "To", "Digits", "CallStatus", "DialCallStatus", "RecordingUrl", "RecordingDuration"]

text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789*#", max_size=40),
    st.sampled_from(["", "0", "*", "#", "1" * 5000, "\x00", "完成", "-1", "NaN", "１２３"]),
)
form = st.dictionaries(st.sampled_from(FIELDS), text, max_size=len(FIELDS))
sids = st.sampled_from(["CA1", "CA2", "CA" + "f" * 32])
paths = st.one_of(
    st.just("/voice"),
    st.builds(lambda s: f"/voice/step?s={s}", st.integers(-3, 12)),
    st.builds(lambda s: f"/voice/step?s={s}&timeout=1", st.integers(0, 12)),
    st.builds(lambda s: f"/voice/step?s={s}&empty=1", st.integers(0, 12)),
    st.just("/voice/step?s=abc"),
    st.just("/voice/step"),
)


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[Flask]:
    """One app for the whole module (hypothesis runs each test many times), closed at its end."""
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        yield app
        app_state(app).close()


def _check(client: FlaskClient, path: str, data: dict[str, str]) -> None:
    resp = client.post(path, data=data)
    assert resp.status_code == 200, (path, data, resp.status_code)
    assert resp.mimetype == "text/xml"
    assert_valid_twiml(resp.data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.tuples(paths, sids, form), min_size=1, max_size=12))
def test_random_forms_replays_and_out_of_order_steps(
    fuzz_app: Flask, requests: list[tuple[str, str, dict[str, str]]]
) -> None:
    client = fuzz_app.test_client()
    for path, sid, data in requests:
        _check(client, path, {**data, "CallSid": data.get("CallSid") or sid})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=form)
def test_missing_or_odd_callsid(fuzz_app: Flask, data: dict[str, str]) -> None:
    _check(fuzz_app.test_client(), "/voice", data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(text, min_size=1, max_size=15))
def test_a_caller_mashing_keys_follows_the_service_urls(fuzz_app: Flask, keys: list[str]) -> None:
    sid = "CAmash" + str(abs(hash(tuple(keys))))[:20]
    call = WebCall(fuzz_app.test_client(), sid=sid, caller="+86", xsd=True)
    for key in keys:
        if call.answer.action(Gather) is None:
            break  # the call ended or moved to a transfer or a recording
        call.press(key)
