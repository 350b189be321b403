"""The webhook service through Flask's test client: TwiML for every node kind, state, resilience."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask

from ivr.config import ConfigError
from ivr.phone.twiml import Dial, Hangup
from ivr.web import app_state
from tests.twiml_tools import Twiml, WebCall, assert_valid_twiml
from tests.webapp import OUT_OF_HOURS, AppFactory

ID = "110101199003074258"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """The app on a fresh SQLite file, agents on duty."""
    return make_app()


def test_incoming_call_gets_welcome_in_a_gather_with_a_timeout_redirect(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    root = assert_valid_twiml(call.twiml)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib["numDigits"] == "1" and gather.attrib["finishOnKey"] == ""
    assert gather.attrib["timeout"] == "5" and gather.attrib["input"] == "dtmf"
    assert gather.attrib["action"] == "/voice/step?s=1"
    say = gather.find("Say")
    assert say is not None and say.attrib == {"language": "cmn-CN", "voice": "Polly.Zhiyu"}
    assert (say.text or "").startswith("欢迎致电12333")
    # On a timeout Twilio runs the next verb: a Redirect that reports the silence.
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == "/voice/step?s=1&timeout=1"
    assert list(root)[-1] is redirect
    assert call.node == "main"


def test_menu_step_and_silence(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("4")
    assert call.node == "ecard" and "下载电子社保卡" in call.said
    call.silence()
    assert "没有收到" in call.said and call.node == "ecard"


def test_id_input_has_numdigits_18_and_hash_finish_and_reads_back(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("1")
    root = assert_valid_twiml(call.twiml)
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "18" and gather.attrib["finishOnKey"] == "#"
    call.press(ID[:-1] + "9")  # bad check digit
    assert "有误" in call.said or "不正确" in call.said
    call.press(ID)
    assert "1 1 0 1 0 1" in call.said
    gather = assert_valid_twiml(call.twiml).find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"


def test_english_after_language_switch(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("9")
    call.press("2")
    say = assert_valid_twiml(call.twiml).find("Gather/Say")
    assert say is not None and say.attrib["language"] == "en-US" and say.attrib["voice"] == "Polly.Joanna"


def test_voices_are_configurable(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SAY_VOICE_ZH_CN", "Polly.Zhiyu")
    monkeypatch.setenv("IVR_SAY_LANGUAGE_ZH_CN", "zh-CN")
    call = WebCall(make_app().test_client(), xsd=True)
    say = assert_valid_twiml(call.twiml).find("Gather/Say")
    assert say is not None and say.attrib["language"] == "zh-CN"


def test_agent_in_hours_dials_with_an_action(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("0")
    root = assert_valid_twiml(call.twiml)
    dial = root.find("Dial")
    assert dial is not None and (dial.text or "").strip() == "+8610123456789"
    assert dial.attrib["action"].startswith("/voice/step?s=")
    assert call.node == "agent_transfer"
    call.dial_ends("busy")
    assert "留言请按1" in call.said
    call.press("1")
    root = assert_valid_twiml(call.twiml)
    record = root.find("Record")
    assert record is not None and record.attrib["maxLength"] == "120" and record.attrib["playBeep"] == "true"
    assert root.find("Redirect") is not None  # Twilio falls through when nothing was recorded


def test_agent_transfer_completed_hangs_up(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("0")
    call.dial_ends("completed", 120)
    assert call.find(Hangup) is not None


def test_agent_without_a_configured_number_offers_voicemail(make_app: AppFactory) -> None:
    app = make_app(AGENT_NUMBER=None)
    call = WebCall(app.test_client(), xsd=True)
    call.press("0")
    assert call.find(Dial) is None and "留言请按1" in call.said


def test_out_of_hours_announces_hours(make_app: AppFactory) -> None:
    call = WebCall(make_app(CLOCK=OUT_OF_HOURS).test_client(), xsd=True)
    call.press("0")
    assert "8:30" in call.said and call.find(Dial) is None


def test_voicemail_then_goodbye_ends_with_hangup(app: Flask) -> None:
    call = WebCall(app.test_client(), xsd=True)
    call.press("0")
    call.dial_ends("no-answer")
    call.press("1")
    call.record("https://api.twilio.com/recordings/RE1", 12)
    root = assert_valid_twiml(call.twiml)
    assert list(root)[-1].tag == "Hangup"


def test_replayed_step_gets_the_same_answer_and_changes_nothing(app: Flask) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True)
    call.press("4")
    first = call.twiml
    again = client.post("/voice/step?s=1", data={"CallSid": call.sid, "Digits": "5"})
    assert again.data.decode() == first
    call.press("1")
    assert call.node == "ecard_download"


def test_replayed_incoming_webhook_is_idempotent(app: Flask) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True)
    again = client.post("/voice", data={"CallSid": call.sid, "From": call.caller})
    assert again.data.decode() == call.twiml


def test_unknown_call_restarts_at_the_main_menu(app: Flask) -> None:
    resp = app.test_client().post("/voice/step?s=7", data={"CallSid": "CAunknown", "Digits": "4"})
    assert resp.status_code == 200 and resp.headers["X-IVR-Node"] == "main"
    assert "欢迎" in assert_valid_twiml(resp.data).findtext("Gather/Say", "")


def test_stale_state_from_an_older_menu_restarts_politely(app: Flask) -> None:
    from sqlalchemy import update

    from ivr.storage.models import CallRecord

    client = app.test_client()
    call = WebCall(client, xsd=True)
    call.press("4")
    db = app_state(app).db
    with db.session() as s:
        s.execute(update(CallRecord).values(state='{"garbage": true}'))
    call.press("1")
    assert call.node == "main"


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"CallSid": ""},
        {"CallSid": "x" * 100},
    ],
)
def test_webhook_without_a_usable_callsid_apologises(app: Flask, form: dict[str, str]) -> None:
    resp = app.test_client().post("/voice", data=form)
    assert resp.status_code == 200
    root = assert_valid_twiml(resp.data)
    assert root.find("Hangup") is not None and "暂时" in Twiml.parse(resp.data).said


def test_status_callback_closes_the_call(app: Flask) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True)
    resp = client.post("/status", data={"CallSid": call.sid, "CallStatus": "completed", "CallDuration": "61"})
    assert resp.status_code == 204
    from ivr.storage.models import CallRecord

    with app_state(app).db.session() as s:
        row = s.get(CallRecord, call.sid)
        assert row is not None and row.status == "completed" and row.duration == 61 and row.ended_at is not None
    assert client.post("/status", data={"CallSid": "CAnope", "CallStatus": "completed"}).status_code == 404


def test_healthz_reports_the_store(app: Flask, tmp_path: Path) -> None:
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "menu": "12333", "version": "1.0.0", "publication": None}


def test_database_down_gives_a_polite_apology_not_a_500(tmp_path: Path, make_app: AppFactory) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "ivr.db").mkdir()
    app = make_app()
    client = app.test_client()
    resp = client.post("/voice", data={"CallSid": "CA1", "From": "+86138"})
    assert resp.status_code == 200
    root = assert_valid_twiml(resp.data)
    assert root.find("Hangup") is not None
    assert "temporarily unavailable" in Twiml.parse(resp.data).said
    assert client.get("/healthz").status_code == 503


def test_database_going_down_mid_call(app: Flask) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True)
    state = app_state(app)
    state.close()
    state.db.url = state.db.url.set(database="/nonexistent/dir/ivr.db")
    call.press("4")
    assert "暂时无法提供服务" in call.said


def test_request_body_is_limited(make_app: AppFactory) -> None:
    app = make_app(MAX_BODY_BYTES=2048)
    resp = app.test_client().post("/voice", data={"CallSid": "CA1", "From": "x" * 5000})
    assert resp.status_code == 413


def test_logs_never_show_a_full_id_number_or_password(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("ivr")
    logger.propagate = True
    try:
        with caplog.at_level(logging.DEBUG, logger="ivr"):
            call = WebCall(app.test_client(), xsd=True)
            for key in ["1", ID, "1", "654321"]:
                call.press(key)
        events = app_state(app).runner.store.events(call.sid)
    finally:
        logger.propagate = False
    text = caplog.text + repr(events)
    assert ID not in text and "654321" not in text
    assert "110***********4258" in repr(events) and "******" in repr(events)


def test_production_refuses_to_start_without_an_auth_token(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        make_app(ENV="production")
    assert make_app(ENV="production", INSECURE=True)
    assert make_app(ENV="production", TWILIO_AUTH_TOKEN="secret", PUBLIC_URL="https://ivr.example.com")
    with pytest.raises(ConfigError, match="IVR_PUBLIC_URL or IVR_TRUSTED_PROXIES"):
        make_app(ENV="production", TWILIO_AUTH_TOKEN="secret")


def test_bad_settings_are_named(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="IVR_PUBLIC_URL"):
        make_app(PUBLIC_URL="ftp://nope")
    with pytest.raises(ConfigError, match="IVR_CLOCK"):
        make_app(CLOCK="2026-11-23T10:00:00")


def test_two_apps_on_one_database_serve_alternate_steps(make_app: AppFactory) -> None:
    a = make_app().test_client()
    b = make_app().test_client()
    call = WebCall(a, xsd=True)
    call.client = b
    call.press("4")
    call.client = a
    call.press("2")
    call.client = b
    call.press("#")
    assert call.node == "ecard"
    call.client = a
    call.press("#")
    assert call.node == "main"


def test_metrics_count_calls_steps_latency_and_outcomes(app: Flask) -> None:
    client = app.test_client()
    call = WebCall(client, xsd=True)
    call.press("4")
    call.press("0")  # agent.hours runs: one transaction outcome
    client.post("/status", data={"CallSid": call.sid, "CallStatus": "completed", "CallDuration": "30"})
    client.post("/voice", data={})  # an apology
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.data.decode()
    assert 'ivr_calls_started_total{menu="12333"} 1.0' in text
    assert 'ivr_steps_total{node="ecard"} 1.0' in text
    assert 'ivr_transactions_total{outcome="open",service="agent.hours"} 1.0' in text
    assert 'ivr_calls_ended_total{status="completed"} 1.0' in text
    assert 'ivr_apologies_total{reason="bad request"} 1.0' in text
    assert 'ivr_webhook_seconds_count{endpoint="step"} 2.0' in text


def test_a_password_does_not_outlive_a_call_abandoned_mid_entry(app: Flask) -> None:
    from ivr.storage.models import CallRecord

    client = app.test_client()
    call = WebCall(client, xsd=True)
    # Activation: ID, confirm, then the initial password; the caller hangs up before the new one.
    for key in ["1", ID, "1", "654321"]:
        call.press(key)
    db = app_state(app).db
    with db.session() as s:
        row = s.get(CallRecord, call.sid)
        assert row is not None and "654321" in row.state  # held only while the call needs it
    client.post("/status", data={"CallSid": call.sid, "CallStatus": "completed", "CallDuration": "40"})
    with db.session() as s:
        row = s.get(CallRecord, call.sid)
        assert row is not None and "654321" not in row.state and '"awaiting":"ended"' in row.state


def test_each_step_names_every_node_it_entered(app: Flask) -> None:
    client = app.test_client()
    first = client.post("/voice", data={"CallSid": "CApath", "From": "+86"})
    assert first.headers["X-IVR-Path"] == "main" and first.headers["X-IVR-Node"] == "main"
    # Key 1 passes through the activation message on its way to the ID entry.
    resp = client.post("/voice/step?s=1", data={"CallSid": "CApath", "Digits": "1"})
    assert resp.headers["X-IVR-Path"] == "activate_intro,activate_id"
    replay = client.post("/voice/step?s=1", data={"CallSid": "CApath", "Digits": "1"})
    assert "X-IVR-Path" not in replay.headers and replay.headers["X-IVR-Node"] == "activate_id"
    kinds = [(kind, node) for kind, node, _ in app_state(app).runner.store.events("CApath")]
    assert ("enter", "activate_intro") in kinds and ("enter", "activate_id") in kinds


def test_an_sqlite_folder_that_cannot_be_made_gives_an_apology(tmp_path: Path, make_app: AppFactory) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    app = make_app(DATABASE_URL=f"sqlite:///{blocker / 'sub' / 'ivr.db'}")
    resp = app.test_client().post("/voice", data={"CallSid": "CA1", "From": "+86"})
    assert resp.status_code == 200 and Twiml.parse(resp.data).find(Hangup) is not None
    assert app.test_client().get("/healthz").status_code == 503


def test_connection_overrides_ride_on_every_step_url(make_app: AppFactory) -> None:
    app = make_app(CONNECTION_OVERRIDE="rc=2&rp=all")
    call = WebCall(app.test_client(), xsd=True)
    root = assert_valid_twiml(call.twiml)
    gather, redirect = root.find("Gather"), root.find("Redirect")
    assert gather is not None and gather.attrib["action"] == "/voice/step?s=1#rc=2&rp=all"
    assert redirect is not None and redirect.text == "/voice/step?s=1&timeout=1#rc=2&rp=all"
    call.press("4")  # the fragment never reaches the server; the step goes on
    assert call.node == "ecard"


def test_a_retried_step_after_a_lost_answer_is_answered_again_not_redone(app: Flask) -> None:
    # What Twilio's retry (rc=...) meets when a worker died after committing but before answering.
    client = app.test_client()
    call = WebCall(client, xsd=True)
    call.press("4")
    committed = call.twiml
    retry = client.post("/voice/step?s=1", data={"CallSid": call.sid, "Digits": "4"})
    assert retry.data.decode() == committed and retry.headers["X-IVR-Node"] == "ecard"


def test_bad_connection_override_is_refused(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="IVR_CONNECTION_OVERRIDE"):
        make_app(CONNECTION_OVERRIDE="rc=2#evil")


def test_a_cached_answer_is_the_one_written_afresh_but_a_read_back_is_never_cached() -> None:
    from ivr.engine import Gather, Say, SayAs, Words
    from ivr.web.twiml import TwimlWriter, _cacheable

    menu = (Gather((Say("zh-CN", (Words("激活社保卡，请按1。"),)),), 1, "", 5.0),)
    writer = TwimlWriter()
    for step in (2, 7, 2):
        cached = writer.write(menu, "/voice/step", step, {})
        fresh = writer._render(menu, "/voice/step", step, {}, [])
        assert cached == fresh and f"s={step}" in cached
    assert writer._cached.cache_info().misses == 1 and writer._cached.cache_info().hits == 2
    readback = (
        Gather((Say("zh-CN", (Words("您输入的是"), SayAs("110101199003074258", "digits", "1 1 0"))),), 1, "", 5.0),
    )
    assert not _cacheable(readback)
    assert "1 1 0" in writer.write(readback, "/voice/step", 3, {})
    assert writer._cached.cache_info().currsize == 1
