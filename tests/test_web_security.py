"""Request signing: Twilio's known test vector, forged requests, and the URL behind a proxy."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.phone.twiml import Gather
from ivr.web import app_state
from ivr.web.security import require_twilio_signature
from tests.twiml_tools import Twiml
from tests.webapp import AppFactory

TOKEN = "12345"
FORM = {"CallSid": "CA" + "1" * 32, "From": "+8613800000000", "To": "+8612333", "CallStatus": "ringing"}


def sign(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def test_twilio_known_test_vector_passes_our_check(make_app: AppFactory) -> None:
    # The vector twilio-python's own tests use: token 12345 and this URL and form.
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL="https://mycompany.com")

    @app.post("/myapp.php")
    @require_twilio_signature
    def myapp() -> str:
        return "ok"

    form = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    client = app.test_client()
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}
    assert client.post("/myapp.php?foo=1&bar=2", data=form, headers=headers).status_code == 200
    assert client.post("/myapp.php?foo=1&bar=3", data=form, headers=headers).status_code == 403


@pytest.fixture
def signed_app(make_app: AppFactory) -> Flask:
    return make_app(TWILIO_AUTH_TOKEN=TOKEN)


def test_signed_request_is_served(signed_app: Flask) -> None:
    resp = signed_app.test_client().post(
        "/voice", data=FORM, headers={"X-Twilio-Signature": sign("http://localhost/voice", FORM)}
    )
    assert resp.status_code == 200 and Twiml.parse(resp.data).find(Gather) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        {"X-Twilio-Signature": sign("http://localhost/voice", FORM, token="wrong")},
        {"X-Twilio-Signature": sign("http://localhost/voice", {**FORM, "From": "+8613900000000"})},
        {"X-Twilio-Signature": sign("http://localhost/voice/step?s=1", FORM)},
    ],
    ids=["missing", "empty", "garbage", "other-token", "tampered-form", "other-url"],
)
def test_forged_or_missing_signature_is_refused(signed_app: Flask, headers: dict[str, str]) -> None:
    client = signed_app.test_client()
    assert client.post("/voice", data=FORM, headers=headers).status_code == 403
    assert client.post("/status", data=FORM, headers=headers).status_code == 403
    assert app_state(signed_app).runner.store.count() == 0


def test_step_urls_are_signed_with_their_query(signed_app: Flask) -> None:
    client = signed_app.test_client()
    client.post("/voice", data=FORM, headers={"X-Twilio-Signature": sign("http://localhost/voice", FORM)})
    form = {**FORM, "Digits": "4"}
    url = "http://localhost/voice/step?s=1"
    resp = client.post("/voice/step?s=1", data=form, headers={"X-Twilio-Signature": sign(url, form)})
    assert resp.status_code == 200 and resp.headers["X-IVR-Node"] == "ecard"


PUBLIC = "https://ivr.example.com/voice"


def _behind_proxy(app: Flask, signed_for: str, headers: dict[str, str]) -> int:
    h = {"X-Twilio-Signature": sign(signed_for, FORM), **headers}
    return int(app.test_client().post("/voice", data=FORM, headers=h, base_url="http://10.0.0.5:8000").status_code)


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com", "X-Forwarded-For": "54.1.2.3"}


@pytest.mark.parametrize(
    ("settings", "headers", "status"),
    [
        ({}, FORWARDED, 403),  # forwarded headers are not trusted by default
        ({"TRUSTED_PROXIES": 1}, FORWARDED, 200),
        ({"TRUSTED_PROXIES": 1}, {}, 403),
        ({"PUBLIC_URL": "https://ivr.example.com"}, {}, 200),
        ({"PUBLIC_URL": "https://ivr.example.com/"}, {"X-Forwarded-Host": "evil.example"}, 200),
        ({"PUBLIC_URL": "https://other.example.com"}, {}, 403),
    ],
)
def test_url_twilio_signed_behind_a_proxy(
    make_app: AppFactory, settings: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, **settings)
    assert _behind_proxy(app, PUBLIC, headers) == status


def test_signature_with_the_default_port_also_passes(make_app: AppFactory) -> None:
    # Twilio may sign https://host:443/voice or https://host/voice; both are the same URL.
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL="https://ivr.example.com")
    assert _behind_proxy(app, "https://ivr.example.com:443/voice", {}) == 200


def test_a_signature_over_the_url_with_its_override_fragment_passes(make_app: AppFactory) -> None:
    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, CONNECTION_OVERRIDE="rc=2&rp=all")
    client = app.test_client()
    h = {"X-Twilio-Signature": sign("http://localhost/voice#rc=2&rp=all", FORM)}
    assert client.post("/voice", data=FORM, headers=h).status_code == 200
    h = {"X-Twilio-Signature": sign("http://localhost/voice#rc=9&rp=all", FORM)}
    assert client.post("/voice", data=FORM, headers=h).status_code == 403


def test_the_simulator_signs_and_follows_urls_with_overrides(make_app: AppFactory) -> None:
    from ivr.phone.callers import parse_answers
    from ivr.phone.run import simulate

    app = make_app(TWILIO_AUTH_TOKEN=TOKEN, CONNECTION_OVERRIDE="rc=2&rp=all")
    result = simulate(app, parse_answers("4 1 #"), auth_token=TOKEN)
    assert result.exit_code == 0
    nodes = [getattr(e, "node", None) for e in result.events if type(e).__name__ == "Request"]
    assert nodes[:4] == ["main", "ecard", "ecard_download", "ecard"]
