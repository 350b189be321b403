"""TwiML documents parsed into typed verbs, strictly and safely.

Parsing is separate from executing: :func:`parse_twiml` turns a response body
into a :class:`Document` of frozen verb dataclasses whose attributes are already
typed (ints, booleans, methods), or raises :class:`TwimlError` saying what is
wrong and where.  The interpreter never sees a raw attribute string.

Remote servers are untrusted, so the XML goes through defusedxml with DTDs
forbidden: an entity bomb ("billion laughs") or an external entity is refused
before anything is expanded.

Strictness follows Twilio's schema: an element Twilio does not know is an
error, as is an attribute Twilio does not know or a value of the wrong type.
Verbs Twilio knows but this simulator does not play (``<Enqueue>``,
``<Connect>``...) parse into :class:`Unsupported`, so the call can report them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

__all__ = [
    "Dial",
    "Document",
    "Gather",
    "Hangup",
    "Pause",
    "Play",
    "Record",
    "Redirect",
    "Reject",
    "Say",
    "TwimlError",
    "Unsupported",
    "Verb",
    "parse_twiml",
]

Method = Literal["GET", "POST"]
DTMF_KEYS = frozenset("0123456789*#")
SAY_LOOP_CAP = 1000
"""Twilio plays a ``loop="0"`` prompt at most this many times."""


class TwimlError(ValueError):
    """The body is not a valid TwiML document; the message says why."""


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` ``loop`` times (0: over and over, up to 1000 times, until a key interrupts it)."""

    text: str
    language: str = "en-US"
    voice: str | None = None
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Play:
    """Play the audio at ``url`` ``loop`` times (0 as for Say), or the DTMF ``digits`` (``w``: half a second)."""

    url: str | None
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Silence for ``length`` seconds."""

    length: int = 1


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    """Collect keys, with nested prompts the caller may key over."""

    prompts: tuple[Prompt, ...] = ()
    action: str | None = None
    method: Method = "POST"
    timeout: int = 5
    num_digits: int | None = None
    finish_on_key: str = "#"
    action_on_empty_result: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    """Fetch the next document from ``url`` (the current one when empty)."""

    url: str
    method: Method = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the call: ``busy`` or ``rejected``."""

    reason: Literal["busy", "rejected"] = "rejected"


@dataclass(frozen=True, slots=True)
class Dial:
    """Connect the caller to ``number``; the simulator decides how the dialled call ends."""

    number: str
    action: str | None = None
    method: Method = "POST"
    timeout: int = 30
    time_limit: int = 14400


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller until silence, a finish key or ``max_length`` seconds."""

    action: str | None = None
    method: Method = "POST"
    timeout: int = 5
    max_length: int = 3600
    finish_on_key: str = "1234567890*#"
    play_beep: bool = True


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A verb Twilio knows but the simulator cannot play."""

    verb: str


Verb = Say | Play | Pause | Gather | Redirect | Hangup | Reject | Dial | Record | Unsupported


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed ``<Response>``: its verbs, in order."""

    verbs: tuple[Verb, ...]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Twilio's schema: the attributes each verb accepts.  Some are accepted and not
# simulated (speech input, transcription, callbacks): Twilio accepts them too.
_ATTRS: dict[str, frozenset[str]] = {
    "Say": _names("loop voice language rate"),
    "Play": _names("loop digits"),
    "Pause": frozenset({"length"}),
    "Gather": _names(
        """action method timeout numDigits finishOnKey actionOnEmptyResult input hints language speechTimeout
        speechModel enhanced profanityFilter partialResultCallback partialResultCallbackMethod bargeIn
        maxSpeechTime grammar grammarUrl secure debug dtmfDetection"""
    ),
    "Redirect": frozenset({"method"}),
    "Hangup": frozenset(),
    "Reject": frozenset({"reason"}),
    "Dial": _names(
        """action method timeout hangupOnStar timeLimit callerId record trim recordingStatusCallback
        recordingStatusCallbackMethod recordingStatusCallbackEvent recordingTrack answerOnBridge ringTone
        recordingChannels sequential referUrl referMethod events"""
    ),
    "Record": _names(
        """action method timeout maxLength finishOnKey playBeep trim transcribe transcribeCallback
        recordingStatusCallback recordingStatusCallbackMethod recordingStatusCallbackEvent recordingChannels
        storageUrl storageUrlMethod"""
    ),
}
_UNSUPPORTED = frozenset(
    {"Enqueue", "Leave", "Connect", "Start", "Stop", "Echo", "Sms", "Message", "Pay", "Prompt", "Refer", "Queue"}
)
_DIAL_NOUNS = frozenset({"Number", "Client", "Sip", "Conference", "Queue", "Sim", "Application"})
_SSML = frozenset(
    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w", "amazon:domain"}
    | {"amazon:effect"}
)
_INT = re.compile(r"^\s*\d{1,9}\s*$")


def parse_twiml(body: bytes | str) -> Document:
    """Parse a TwiML response body; raise :class:`TwimlError` if it is not valid TwiML."""
    if isinstance(body, bytes) and not body.strip():
        raise TwimlError("the response is empty, not a TwiML document")
    head = (body[:200].decode("utf-8", "replace") if isinstance(body, bytes) else body[:200]).lstrip().lower()
    if head.startswith(("<!doctype html", "<html")):
        raise TwimlError("the answer is an HTML page, not TwiML")
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        # A DTD is where entity bombs and external entities live; TwiML never needs one.
        kind = type(exc).__name__
        raise TwimlError(f"refused unsafe XML ({kind}): TwiML may not declare a DTD or entities") from None
    except ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>: this is not TwiML")
    _no_attrs(root, frozenset({"version"}))
    _no_text(root)
    return Document(tuple(_verb(el) for el in root))


def _verb(el: Element) -> Verb:
    if el.tag in _UNSUPPORTED:
        return Unsupported(el.tag)
    builder = _BUILDERS.get(el.tag)
    if builder is None:
        raise TwimlError(f"unknown verb <{el.tag}>")
    _no_attrs(el, _ATTRS[el.tag])
    return builder(el)


def _say(el: Element) -> Say:
    for child in el.iter():
        if child is not el and child.tag not in _SSML:
            raise TwimlError(f"<Say> cannot contain <{child.tag}>")
    text = " ".join("".join(el.itertext()).split())
    voice = el.get("voice")
    return Say(text, el.get("language", "en-US"), voice, _loop(el))


def _play(el: Element) -> Play:
    _no_children(el)
    digits = el.get("digits")
    url = (el.text or "").strip() or None
    if digits is not None:
        if not digits or set(digits) - DTMF_KEYS - {"w"}:
            raise TwimlError(f"<Play digits={digits!r}>: only 0-9, *, # and w are allowed")
    elif url is None:
        raise TwimlError("<Play> needs a URL or a digits attribute")
    return Play(url, _loop(el), digits)


def _pause(el: Element) -> Pause:
    _no_children(el)
    return Pause(_int(el, "length", 1))


def _gather(el: Element) -> Gather:
    prompts: list[Prompt] = []
    for child in el:
        if child.tag not in ("Say", "Play", "Pause"):
            raise TwimlError(f"<Gather> can only nest <Say>, <Play> and <Pause>, not <{child.tag}>")
        _no_attrs(child, _ATTRS[child.tag])
        verb = _BUILDERS[child.tag](child)
        assert isinstance(verb, Say | Play | Pause)
        prompts.append(verb)
    _no_text(el)
    finish = el.get("finishOnKey", "#")
    if len(finish) > 1 or (finish and finish not in DTMF_KEYS):
        raise TwimlError(f"<Gather finishOnKey={finish!r}>: one of 0-9, *, # or empty")
    num = _int(el, "numDigits", 0) if el.get("numDigits") is not None else None
    if num == 0:
        raise TwimlError("<Gather numDigits> must be a positive integer")
    return Gather(
        tuple(prompts),
        _url(el, "action"),
        _method(el),
        _int(el, "timeout", 5),
        num,
        finish,
        _bool(el, "actionOnEmptyResult", False),
    )


def _redirect(el: Element) -> Redirect:
    _no_children(el)
    return Redirect((el.text or "").strip(), _method(el))


def _hangup(el: Element) -> Hangup:
    _no_children(el)
    return Hangup()


def _reject(el: Element) -> Reject:
    _no_children(el)
    reason = el.get("reason", "rejected")
    if reason not in ("busy", "rejected"):
        raise TwimlError(f"<Reject reason={reason!r}>: busy or rejected")
    return Reject("busy" if reason == "busy" else "rejected")


def _dial(el: Element) -> Dial:
    number = (el.text or "").strip()
    for child in el:
        if child.tag not in _DIAL_NOUNS:
            raise TwimlError(f"<Dial> cannot contain <{child.tag}>")
        noun = (child.text or "").strip()
        number = number or (noun if child.tag == "Number" else f"{child.tag.lower()}:{noun}")
    if not number:
        raise TwimlError("<Dial> has nothing to dial")
    return Dial(number, _url(el, "action"), _method(el), _int(el, "timeout", 30), _int(el, "timeLimit", 14400))


def _record(el: Element) -> Record:
    _no_children(el)
    finish = el.get("finishOnKey", "1234567890*#")
    if set(finish) - DTMF_KEYS:
        raise TwimlError(f"<Record finishOnKey={finish!r}>: only 0-9, * and #")
    max_length = _int(el, "maxLength", 3600)
    return Record(
        _url(el, "action"),
        _method(el),
        _int(el, "timeout", 5),
        max_length or 3600,  # Twilio: 0 means the maximum
        finish,
        _bool(el, "playBeep", True),
    )


_BUILDERS: dict[str, Callable[[Element], Verb]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Redirect": _redirect,
    "Hangup": _hangup,
    "Reject": _reject,
    "Dial": _dial,
    "Record": _record,
}


# -- attribute helpers: each bad value is an error naming the verb and attribute --


def _no_attrs(el: Element, allowed: frozenset[str]) -> None:
    unknown = sorted(set(el.attrib) - allowed)
    if unknown:
        raise TwimlError(f"<{el.tag}> has unknown attribute(s): {', '.join(unknown)}")


def _no_text(el: Element) -> None:
    texts = [el.text, *(child.tail for child in el)]
    if any(t and t.strip() for t in texts):
        raise TwimlError(f"<{el.tag}> cannot contain text")


def _no_children(el: Element) -> None:
    for child in el:
        raise TwimlError(f"<{el.tag}> cannot contain <{child.tag}>")


def _int(el: Element, name: str, default: int) -> int:
    raw = el.get(name)
    if raw is None:
        return default
    if not _INT.match(raw):
        raise TwimlError(f"<{el.tag} {name}={raw!r}>: not a non-negative integer")
    return int(raw)


def _loop(el: Element) -> int:
    # 0 stays 0 ("until interrupted"): the interpreter decides what that means where it plays.
    return min(_int(el, "loop", 1), SAY_LOOP_CAP)


def _bool(el: Element, name: str, default: bool) -> bool:
    raw = el.get(name)
    if raw is None:
        return default
    if raw.strip().lower() not in ("true", "false"):
        raise TwimlError(f"<{el.tag} {name}={raw!r}>: true or false")
    return raw.strip().lower() == "true"


def _method(el: Element) -> Method:
    raw = el.get("method", "POST").strip().upper()
    if raw not in ("GET", "POST"):
        raise TwimlError(f"<{el.tag} method={el.get('method')!r}>: GET or POST")
    return "GET" if raw == "GET" else "POST"


def _url(el: Element, name: str) -> str | None:
    raw = el.get(name)
    return raw.strip() if raw is not None and raw.strip() else None
