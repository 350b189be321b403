"""The TwiML parser: typed verbs, Twilio's defaults, strictness and safety."""

from __future__ import annotations

import pytest

from ivr.phone.twiml import Dial, Gather, Play, Record, Say, TwimlError, Unsupported, parse_twiml
from tests.twiml_fixture_app import BOMB


def doc(body: str) -> bytes:
    return f"<Response>{body}</Response>".encode()


def test_gather_attributes_are_typed_with_twilio_defaults() -> None:
    (g,) = parse_twiml(doc("<Gather><Say>hi</Say></Gather>")).verbs
    assert g == Gather(prompts=(Say("hi"),), action=None, method="POST", timeout=5, num_digits=None, finish_on_key="#")
    (g,) = parse_twiml(doc('<Gather numDigits="3" finishOnKey="" timeout="9" method="get" action="/x"/>')).verbs
    assert isinstance(g, Gather)
    assert (g.num_digits, g.finish_on_key, g.timeout, g.method, g.action) == (3, "", 9, "GET", "/x")


def test_say_keeps_language_voice_loop_and_flattens_ssml() -> None:
    (s,) = parse_twiml(doc('<Say language="zh-CN" voice="Polly.Zhiyu" loop="0">你好<break time="1s"/>世界</Say>')).verbs
    assert s == Say("你好世界", "zh-CN", "Polly.Zhiyu", 0)


def test_play_digits_dial_number_and_record_defaults() -> None:
    play, dial, record = parse_twiml(doc('<Play digits="1w#"/><Dial><Number>+861</Number></Dial><Record/>')).verbs
    assert play == Play(None, 1, "1w#")
    assert dial == Dial("+861")
    assert record == Record(finish_on_key="1234567890*#", max_length=3600, timeout=5, play_beep=True)


def test_known_but_unsimulated_verbs_parse_as_unsupported() -> None:
    assert parse_twiml(doc("<Enqueue>q</Enqueue>")).verbs == (Unsupported("Enqueue"),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (doc("<Dance/>"), "unknown verb <Dance>"),
        (doc('<Gather numDigits="two"/>'), "numDigits='two'"),
        (doc('<Gather numDigits="0"/>'), "positive integer"),
        (doc('<Gather finishOnKey="ab"/>'), "finishOnKey"),
        (doc('<Say colour="red">x</Say>'), "unknown attribute(s): colour"),
        (doc('<Redirect method="PUT">/x</Redirect>'), "GET or POST"),
        (doc("<Gather><Dial>1</Dial></Gather>"), "can only nest"),
        (doc("stray text"), "cannot contain text"),
        (doc("<Play/>"), "needs a URL"),
        (b"<html><body>hi</body></html>", "HTML page"),
        (b"<Response><Say>unclosed</Response>", "not XML"),
        (b"<Reply/>", "not <Response>"),
        (b"", "empty"),
    ],
)
def test_invalid_twiml_is_refused_with_the_reason(body: bytes, message: str) -> None:
    with pytest.raises(TwimlError) as err:
        parse_twiml(body)
    assert message in str(err.value)


def test_an_entity_bomb_is_refused_before_expansion() -> None:
    with pytest.raises(TwimlError, match="unsafe XML"):
        parse_twiml(BOMB.encode())


def test_external_entities_are_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response><Say>&x;</Say></Response>'
    with pytest.raises(TwimlError, match="unsafe XML"):
        parse_twiml(body)
