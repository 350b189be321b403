"""Test helpers for the webhook: TwiML schema validation and a minimal call walker.

The walker is deliberately small: it follows the step URLs the service writes,
the way Twilio would, so the webhook tests do not depend on the simulator.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

XSD_DIR = Path(__file__).resolve().parents[2] / "shared" / "twiml-xsd"
XSD = XSD_DIR / "twiml_v20100401_twilioRealtimeCallSchema.xsd"


@cache
def _schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema(str(XSD))


def assert_valid_twiml(body: str | bytes) -> ElementTree.Element:
    """Parse ``body`` and check it against Twilio's own TwiML schema (skip if it is absent)."""
    if not XSD.exists():
        pytest.skip(f"Twilio's TwiML XSD is not at {XSD_DIR} (the shared folder beside the checkout)")
    text = body.decode() if isinstance(body, bytes) else body
    _schema().validate(text)
    return ElementTree.fromstring(text)


class WebCall:
    """Walks one call through a Flask test client, as Twilio would."""

    def __init__(self, client: Any, sid: str = "CA" + "0" * 32, caller: str = "+8613800000000") -> None:
        self.client = client
        self.sid = sid
        self.caller = caller
        self.responses: list[str] = []
        self.nodes: list[str] = []
        self._post("/voice", {})

    @property
    def twiml(self) -> str:
        """The current TwiML document."""
        return self.responses[-1]

    @property
    def node(self) -> str:
        """The node the service says the call is at."""
        return self.nodes[-1]

    def _post(self, url: str, extra: dict[str, str]) -> str:
        data = {"CallSid": self.sid, "From": self.caller, "To": "+8612333", "CallStatus": "in-progress", **extra}
        resp = self.client.post(url, data=data)
        assert resp.status_code == 200, resp.data
        assert resp.mimetype == "text/xml"
        body = resp.data.decode()
        assert_valid_twiml(body)
        self.responses.append(body)
        self.nodes.append(resp.headers.get("X-IVR-Node", ""))
        return body

    def _action(self, verb: str) -> str:
        m = re.search(rf'<{verb}[^>]*action="([^"]+)"', self.twiml)
        assert m, f"no <{verb}> with an action in {self.twiml}"
        return m.group(1).replace("&amp;", "&")

    def press(self, digits: str) -> str:
        """Answer the current Gather with ``digits``."""
        return self._post(self._action("Gather"), {"Digits": digits})

    def silence(self) -> str:
        """Let the Gather time out: Twilio runs the Redirect after it."""
        m = re.search(r"<Redirect[^>]*>([^<]+)</Redirect>", self.twiml)
        assert m, f"no <Redirect> after the Gather in {self.twiml}"
        return self._post(m.group(1).replace("&amp;", "&"), {})

    def dial_ends(self, status: str, duration: int = 0) -> str:
        """The <Dial> ends with ``status``."""
        return self._post(self._action("Dial"), {"DialCallStatus": status, "DialCallDuration": str(duration)})

    def record(self, url: str, seconds: int) -> str:
        """A <Record> finishes with a recording."""
        return self._post(self._action("Record"), {"RecordingUrl": url, "RecordingDuration": str(seconds)})
