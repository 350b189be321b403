"""The simulator against the TwiML fixture app, in-process: every verb and every rule."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.interpreter import APPLICATION_ERROR, CallResult
from ivr.phone.run import simulate
from ivr.phone.speaker import estimate_seconds
from tests.twiml_fixture_app import LONG_PROMPT, create_app


@pytest.fixture
def app() -> Any:
    return create_app()


def call(app: Any, path: str, keys: str = "", **settings: Any) -> CallResult:
    return simulate(app, parse_answers(keys), url=f"http://localhost{path}", **settings)


def said(result: CallResult) -> list[str]:
    return [e.text for e in result.events if isinstance(e, ev.SayEvent)]


def of(result: CallResult, kind: type[Any]) -> list[Any]:
    return [e for e in result.events if isinstance(e, kind)]


def test_first_request_carries_twilios_standard_parameters(app: Any) -> None:
    result = call(app, "/voice", "1 -")
    first, second = app.config["LOG"][0]["form"], app.config["LOG"][1]["form"]
    assert first["CallSid"].startswith("CA") and len(first["CallSid"]) == 34
    assert first["AccountSid"].startswith("AC")
    assert first["CallStatus"] == "ringing" and second["CallStatus"] == "in-progress"
    assert {first["Direction"], first["ApiVersion"]} == {"inbound", "2010-04-01"}
    assert first["From"] == first["Caller"] and first["To"] == first["Called"]
    assert second["Digits"] == "1" and second["FinishedOnKey"] == ""
    assert result.reason == "hangup" and result.exit_code == 0


def test_relative_action_and_redirect_resolve_against_the_document_url(app: Any) -> None:
    call(app, "/voice", "1 -")
    assert [r["path"] for r in app.config["LOG"]] == ["/voice", "/menu", "/voice"]


def test_finish_key_ends_input_and_is_reported_apart(app: Any) -> None:
    result = call(app, "/gather/finish", "12#")
    assert of(result, ev.Input)[0] == ev.Input(digits="12", finished_on_key="#", t=of(result, ev.Input)[0].t)
    assert "digits [12] finished [#]" in said(result)


def test_empty_finish_on_key_makes_hash_an_ordinary_key(app: Any) -> None:
    result = call(app, "/gather/nofinish", "12#")
    assert "digits [12#] finished []" in said(result)


def test_num_digits_submits_at_once_and_drops_extra_keys(app: Any) -> None:
    result = call(app, "/gather/numdigits", "12345")
    assert "digits [123] finished []" in said(result)
    assert any("'45'" in w.message for w in of(result, ev.Warning))


def test_no_input_falls_through_to_the_next_verb(app: Any) -> None:
    result = call(app, "/gather/finish", "-")
    assert of(result, ev.NoInput) and said(result)[-1] == "fell through"
    assert [r["path"] for r in app.config["LOG"]] == ["/gather/finish"]
    assert result.reason == "end_of_document"


def test_action_on_empty_result_posts_empty_digits(app: Any) -> None:
    result = call(app, "/gather/empty", "-")
    assert app.config["LOG"][-1]["form"]["Digits"] == ""
    assert "digits [] finished []" in said(result)


def test_gather_timeout_starts_after_the_prompts_end(app: Any) -> None:
    result = call(app, "/gather/long", "-")
    (no_input,) = of(result, ev.NoInput)
    prompt = estimate_seconds(LONG_PROMPT.strip())
    assert prompt > 10
    assert no_input.t == pytest.approx(prompt + 5, abs=0.01)


def test_keys_wait_for_the_prompts_unless_the_caller_barges_in(app: Any) -> None:
    patient = call(app, "/gather/barge", "5")
    assert of(patient, ev.Input)[0].t > estimate_seconds(LONG_PROMPT.strip())
    assert "second prompt" in said(patient)
    barging = call(create_app(), "/gather/barge", "^5")
    assert of(barging, ev.Input)[0].t == 0
    assert "second prompt" not in said(barging)  # the key cut the Gather's prompts short


def test_gather_without_action_posts_to_the_current_document(app: Any) -> None:
    result = call(app, "/noaction", "7")
    assert [r["path"] for r in app.config["LOG"]] == ["/noaction", "/noaction"]
    assert "you pressed 7" in said(result) and result.exit_code == 0


def test_a_gather_without_action_that_loops_forever_is_stopped_by_the_guard(app: Any) -> None:
    result = call(app, "/noaction", " ".join("-" * 40), max_hops=10)
    (error,) = of(result, ev.ErrorEvent)
    assert "loop guard" in error.message
    assert result.reason == "error" and result.exit_code == 1
    assert len(app.config["LOG"]) == 10


def test_redirect_loop_ends_with_an_error_and_the_announcement(app: Any) -> None:
    result = call(app, "/redirect-loop")
    assert "loop guard" in of(result, ev.ErrorEvent)[0].message
    assert said(result)[-1] == APPLICATION_ERROR
    assert result.exit_code == 1 and isinstance(result.events[-1], ev.End)


def test_redirect_with_get_puts_parameters_in_the_query(app: Any) -> None:
    result = call(app, "/redirect-get")
    last = app.config["LOG"][-1]
    assert last["method"] == "GET" and last["args"]["a"] == "b" and last["args"]["CallSid"].startswith("CA")
    assert said(result) == ["GET a=b status=in-progress"]


def test_gather_with_get_method_keeps_the_action_query(app: Any) -> None:
    call(app, "/gather/get", "4")
    last = app.config["LOG"][-1]
    assert last["method"] == "GET" and last["args"]["x"] == "1" and last["args"]["Digits"] == "4"


def test_say_loop_pause_play_and_play_digits_take_their_time(app: Any) -> None:
    result = call(app, "/prompts")
    say, pause, play, digits, bye = (
        e for e in result.events if isinstance(e, ev.SayEvent | ev.PauseEvent | ev.PlayEvent)
    )
    assert (say.language, say.voice, say.loop) == ("zh-CN", "Polly.Zhiyu", 2)
    assert pause.t == pytest.approx(2 * say.seconds, abs=0.01)
    assert play.url == "http://localhost/audio/tone.wav" and play.seconds == pytest.approx(1.0, abs=0.01)
    assert play.t == pytest.approx(pause.t + 2, abs=0.01)
    assert digits.digits == "1w2" and digits.t == pytest.approx(play.t + 1.0, abs=0.01)
    assert bye.voice == "alice"
    assert "never" not in said(result)  # nothing runs after <Hangup>
    assert of(result, ev.HangupEvent) and result.reason == "hangup"


def test_dial_outcome_goes_to_the_action_with_status_and_duration(app: Any) -> None:
    done = call(app, "/dial", dial_outcomes=("completed",), dial_talk_seconds=42)
    assert of(done, ev.DialEvent)[0].status == "completed" and "dial completed 42" in said(done)
    busy = call(create_app(), "/dial", dial_outcomes=("busy",))
    assert "dial busy none" in said(busy)
    log = create_app()
    call(log, "/dial", dial_outcomes=("no-answer",))
    assert log.config["LOG"][-1]["form"]["DialCallStatus"] == "no-answer"


def test_dial_without_action_continues_with_the_next_verb(app: Any) -> None:
    result = call(app, "/dial/noaction", dial_outcomes=("failed",))
    assert said(result) == ["after the dial"] and of(result, ev.DialEvent)[0].status == "failed"


def test_record_posts_url_duration_and_finish_key(app: Any) -> None:
    result = call(app, "/record", "rec:12#")
    assert of(result, ev.RecordEvent)[0].seconds == 12
    assert "recorded 12 digits [#] url yes" in said(result)


def test_record_ended_by_silence_sends_no_digits(app: Any) -> None:
    result = call(app, "/record", "rec:7")
    assert "recorded 7 digits [] url yes" in said(result)


def test_an_empty_recording_skips_the_action(app: Any) -> None:
    result = call(app, "/record", "-")
    assert said(result) == ["no message"] and len(app.config["LOG"]) == 1


def test_reject_ends_the_call(app: Any) -> None:
    result = call(app, "/reject")
    assert of(result, ev.RejectEvent)[0].reason == "busy" and result.reason == "reject" and result.exit_code == 0


def test_end_of_document_ends_the_call(app: Any) -> None:
    result = call(app, "/end-of-document")
    assert result.reason == "end_of_document" and result.exit_code == 0


def test_answers_running_out_means_the_caller_hangs_up_after_the_prompt(app: Any) -> None:
    result = call(app, "/voice")
    assert said(result) == ["Press 1 for news, 2 to leave a message."]
    assert result.reason == "caller_hangup" and result.exit_code == 0


def test_unsupported_verb_is_reported_and_ends_the_call(app: Any) -> None:
    result = call(app, "/unsupported")
    assert of(result, ev.UnsupportedEvent)[0].verb == "Enqueue" and result.exit_code == 3


@pytest.mark.parametrize(
    ("path", "message", "status"),
    [
        ("/unknown-verb", "unknown verb <Dance>", 200),
        ("/bad-attribute", "numDigits='two'", 200),
        ("/html", "HTML page", 200),
        ("/bomb", "unsafe XML", 200),
        ("/500", "HTTP 500", 500),
        ("/no-such-page", "HTTP 404", 404),
    ],
)
def test_application_failures_end_with_error_event_announcement_and_exit_1(
    app: Any, path: str, message: str, status: int
) -> None:
    result = call(app, path)
    (error,) = of(result, ev.ErrorEvent)
    assert message in error.message and error.status == status
    assert said(result)[-1] == APPLICATION_ERROR
    assert result.reason == "error" and result.exit_code == 1
    assert isinstance(result.events[-1], ev.End)


def test_status_callback_reports_final_status_and_duration(app: Any) -> None:
    result = call(app, "/voice", "1 -", status_callback="/status")
    status = app.config["LOG"][-1]
    assert status["path"] == "/status" and status["form"]["CallStatus"] == "completed"
    assert int(status["form"]["CallDuration"]) == pytest.approx(result.duration, abs=1)
    rejected = create_app()
    call(rejected, "/reject", status_callback="/status")
    assert rejected.config["LOG"][-1]["form"]["CallStatus"] == "busy"


def test_timeline_times_never_go_back_and_end_is_last(app: Any) -> None:
    result = call(app, "/voice", "1 2 rec:5")
    times = [e.t for e in result.events]
    assert times == sorted(times)
    assert isinstance(result.events[0], ev.CallEvent) and isinstance(result.events[-1], ev.End)
    assert result.events[-1].duration == times[-1]
