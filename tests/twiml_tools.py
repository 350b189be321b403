"""Test helpers for the webhook's TwiML: Twilio's schema, a parsed answer, and the one call walker.

Tests never pattern-match TwiML text.  :class:`Twiml` reads an answer with the
phone's own parser (:func:`ivr.phone.twiml.parse_twiml`): its typed verbs,
what it says, the URLs it names.  :class:`WebCall` walks one call through a
Flask test client, following those URLs the way Twilio does, so the webhook
tests do not depend on the simulator.

Twilio's XSD lives in the shared folder beside the checkout
(``../shared/twiml-xsd``).  Tests that need it call :func:`require_xsd` (or
carry the ``xsd`` marker, see tests/conftest.py): without the XSD they skip,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qs, urldefrag, urlencode, urljoin, urlsplit
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient

from ivr.phone.twiml import Dial, Document, Gather, Pause, Play, Record, Redirect, Say, TwimlError, Verb, parse_twiml

XSD_DIR = Path(__file__).resolve().parents[2] / "shared" / "twiml-xsd"
XSD = XSD_DIR / "twiml_v20100401_twilioRealtimeCallSchema.xsd"

CALLER = "+8613912345678"
"""The number a test call comes from, unless it says otherwise."""
HOTLINE = "+8612333"

V = TypeVar("V", bound=Verb)


def new_sid() -> str:
    """A fresh CallSid, so no two test calls share one (a shared one means a Twilio retry)."""
    return "CA" + uuid.uuid4().hex


# -- Twilio's schema -----------------------------------------------------------------------------


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_xsd() -> Path:
    """The path of Twilio's TwiML XSD; without it the test skips, or fails under ``CI=true``."""
    if XSD.exists():
        return XSD
    why = f"Twilio's TwiML XSD is not at {XSD.parent} (the shared folder beside the checkout)"
    if in_ci():
        pytest.fail(f"{why}: CI=true needs it, so the XSD tests fail instead of skipping", pytrace=False)
    pytest.skip(why)


@cache
def _schema(path: Path) -> Any:
    import xmlschema

    return xmlschema.XMLSchema(str(path))


def assert_valid_twiml(body: str | bytes) -> ElementTree.Element:
    """Check ``body`` against Twilio's own TwiML schema (see :func:`require_xsd`); its root element."""
    text = body.decode() if isinstance(body, bytes) else body
    _schema(require_xsd()).validate(text)
    return ElementTree.fromstring(text)


# -- one answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Twiml:
    """One TwiML answer as the phone's parser reads it: its verbs, what it says, the URLs it names."""

    body: str
    document: Document

    @classmethod
    def parse(cls, body: str | bytes) -> Twiml:
        """Parse ``body``; a document the phone cannot read fails the test, saying why."""
        text = body.decode() if isinstance(body, bytes) else body
        try:
            return cls(text, parse_twiml(text))
        except TwimlError as exc:
            raise AssertionError(f"not TwiML ({exc}): {text[:500]}") from None

    @property
    def verbs(self) -> tuple[Verb, ...]:
        """The top-level verbs, in order."""
        return self.document.verbs

    def find(self, kind: type[V]) -> V | None:
        """The first top-level verb of ``kind`` (``Gather``, ``Dial``, ``Hangup``...), or None."""
        return next((verb for verb in self.verbs if isinstance(verb, kind)), None)

    @property
    def said(self) -> str:
        """The text of every ``<Say>``, those nested in a ``<Gather>`` included, in order, space-separated."""
        texts: list[str] = []
        for verb in self.verbs:
            prompts = verb.prompts if isinstance(verb, Gather) else (verb,)
            texts.extend(prompt.text for prompt in prompts if isinstance(prompt, Say))
        return " ".join(texts)

    def action(self, kind: type[Gather | Dial | Record]) -> str | None:
        """The action URL of the first ``kind`` verb; None if there is none, or it names no action."""
        verb = self.find(kind)
        return None if verb is None else verb.action


# -- one call ------------------------------------------------------------------------------------


def step_number(url: str) -> int | None:
    """The step number (``s=``) the service writes into each URL it asks Twilio to come back to."""
    values = parse_qs(urlsplit(url).query).get("s", [])
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else None


class WebCall:
    """One call walked through the webhook with a Flask test client, the way Twilio walks it.

    It posts ``/voice``, then answers each TwiML document as Twilio would: keys
    go to the ``<Gather>``'s action, a timeout runs the ``<Redirect>`` after the
    Gather, a ``<Dial>`` or ``<Record>`` ends at its action with
    ``DialCallStatus`` or ``RecordingUrl``.  Relative URLs are resolved against
    the document's own, fragments are never sent, and every URL followed must
    carry the service's step number.  Every answer must be a 200 ``text/xml``
    document the phone's parser reads; with ``xsd=True`` it is also checked
    against Twilio's XSD.  The answering methods return the call, so they chain.
    """

    def __init__(self, client: FlaskClient, sid: str | None = None, caller: str = CALLER, *, xsd: bool = False) -> None:
        self.client = client
        """The app the next request goes to: tests switch it to play several workers."""
        self.sid = sid or new_sid()
        self.caller = caller
        self.xsd = xsd
        self.url = "/voice"
        """The URL of the current document, which relative URLs in it are resolved against."""
        self.answers: list[Twiml] = []
        self.nodes: list[str] = []
        self._fetch("/voice", "POST", {})

    @property
    def answer(self) -> Twiml:
        """The current TwiML document, parsed."""
        return self.answers[-1]

    @property
    def twiml(self) -> str:
        """The current TwiML document, as the service sent it."""
        return self.answer.body

    @property
    def node(self) -> str:
        """The node the service says the call is at (its ``X-IVR-Node`` header)."""
        return self.nodes[-1]

    @property
    def said(self) -> str:
        """What the current document says (see :attr:`Twiml.said`)."""
        return self.answer.said

    def find(self, kind: type[V]) -> V | None:
        """The current document's first top-level verb of ``kind``, or None."""
        return self.answer.find(kind)

    def action(self, kind: type[Gather | Dial | Record]) -> str:
        """The action URL of the current document's ``kind`` verb; the test fails if there is none."""
        url = self.answer.action(kind)
        assert url is not None, f"no <{kind.__name__}> with an action in {self.twiml}"
        return url

    def press(self, digits: str) -> Self:
        """Answer the current ``<Gather>`` with ``digits``."""
        return self.post(Gather, {"Digits": digits})

    def silence(self) -> Self:
        """Let the ``<Gather>`` time out: Twilio goes on with the verbs after it, up to a ``<Redirect>``."""
        verbs = self.answer.verbs
        at = next((i for i, verb in enumerate(verbs) if isinstance(verb, Gather)), None)
        assert at is not None, f"no <Gather> to time out in {self.twiml}"
        gather = verbs[at]
        assert isinstance(gather, Gather)
        if gather.action_on_empty_result:
            return self.post(Gather, {})
        for verb in verbs[at + 1 :]:
            if isinstance(verb, Redirect):
                return self._follow(verb.url, verb.method, {})
            assert isinstance(verb, Say | Play | Pause), f"after the timeout Twilio runs {verb}, in {self.twiml}"
        raise AssertionError(f"no <Redirect> after the <Gather> in {self.twiml}")

    def dial_ends(self, status: str, duration: int = 0) -> Self:
        """The ``<Dial>`` ends with ``status`` (``completed``, ``busy``, ``no-answer``...) after ``duration`` s."""
        return self.post(Dial, {"DialCallStatus": status, "DialCallDuration": str(duration)})

    def record(self, url: str, seconds: int) -> Self:
        """The ``<Record>`` finishes with the recording at ``url``, ``seconds`` long."""
        return self.post(Record, {"RecordingUrl": url, "RecordingDuration": str(seconds)})

    def post(self, kind: type[Gather | Dial | Record], form: Mapping[str, str]) -> Self:
        """Answer the current ``kind`` verb at its action with ``form`` (over the call's own parameters)."""
        verb = self.find(kind)
        assert verb is not None, f"no <{kind.__name__}> in {self.twiml}"
        return self._follow(self.action(kind), verb.method, form)

    def hang_up(self, duration: int = 30) -> None:
        """The caller hangs up: Twilio's status callback says the call completed."""
        form = {**self._params(), "CallStatus": "completed", "CallDuration": str(duration)}
        resp = self.client.post("/status", data=form)
        assert resp.status_code == 204, (resp.status_code, resp.data[:500])

    def _params(self) -> dict[str, str]:
        return {"CallSid": self.sid, "From": self.caller, "To": HOTLINE, "CallStatus": "in-progress"}

    def _follow(self, url: str, method: Literal["GET", "POST"], form: Mapping[str, str]) -> Self:
        target = urldefrag(urljoin(self.url, url or self.url)).url  # Twilio never sends the fragment
        assert step_number(target) is not None, f"{url!r} carries no step number (s=), in {self.twiml}"
        return self._fetch(target, method, form)

    def _fetch(self, url: str, method: Literal["GET", "POST"], form: Mapping[str, str]) -> Self:
        data = {**self._params(), **form}
        if method == "GET":  # Twilio sends a GET's parameters in the query string
            resp = self.client.get(f"{url}{'&' if '?' in url else '?'}{urlencode(data)}")
        else:
            resp = self.client.post(url, data=data)
        assert resp.status_code == 200, (method, url, resp.status_code, resp.data[:500])
        assert resp.mimetype == "text/xml", (method, url, resp.mimetype)
        if self.xsd:
            assert_valid_twiml(resp.data)
        self.answers.append(Twiml.parse(resp.data))
        self.nodes.append(resp.headers.get("X-IVR-Node", ""))
        self.url = url
        return self
