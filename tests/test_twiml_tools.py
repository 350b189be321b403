"""The test kit's own tests: the XSD requirement, the ``xsd`` marker, the ``make_app`` fixture, the call walker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, Response, request

from ivr.phone.twiml import Dial, Gather, Hangup
from tests import twiml_tools
from tests.twiml_tools import Twiml, WebCall, assert_valid_twiml, require_xsd

pytest_plugins = ["pytester"]

MARKED = """
import pytest

pytestmark = pytest.mark.xsd


def test_needs_the_xsd():
    pass
"""


@pytest.fixture
def no_xsd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the kit at a shared folder that does not exist."""
    missing = tmp_path / "shared" / "twiml-xsd" / twiml_tools.XSD.name
    monkeypatch.setattr(twiml_tools, "XSD", missing)
    return missing


def _outcome(check: Callable[[], object]) -> BaseException:
    """The skip or failure ``check`` raises, caught so that a wrong skip cannot skip the test checking it."""
    try:
        check()
    except BaseException as exc:  # pytest's outcomes are BaseExceptions
        return exc
    raise AssertionError(f"{check} neither skipped nor failed")


# -- the XSD: skipped without it, failed under CI --------------------------------------------------


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_a_missing_xsd_fails_under_ci(no_xsd: Path, monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    failed = _outcome(require_xsd)
    assert isinstance(failed, pytest.fail.Exception), repr(failed)
    assert str(no_xsd.parent) in str(failed) and "CI=true needs it" in str(failed)
    assert isinstance(_outcome(lambda: assert_valid_twiml("<Response/>")), pytest.fail.Exception)


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_missing_xsd_skips_outside_ci(no_xsd: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    skipped = _outcome(require_xsd)
    assert isinstance(skipped, pytest.skip.Exception), repr(skipped)
    assert f"Twilio's TwiML XSD is not at {no_xsd.parent}" in str(skipped)


def test_a_present_xsd_is_returned_and_checks_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_xsd() == twiml_tools.XSD
    assert assert_valid_twiml("<Response><Hangup/></Response>").tag == "Response"
    with pytest.raises(Exception, match="Hangpu"):
        assert_valid_twiml("<Response><Hangpu/></Response>")


def test_the_xsd_marker_is_an_error_under_ci_and_a_skip_otherwise(
    no_xsd: Path, monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(MARKED)
    monkeypatch.setenv("CI", "true")
    failed = pytester.runpytest_inprocess("-p", "tests.conftest")
    failed.assert_outcomes(errors=1)
    failed.stdout.fnmatch_lines(["*TwiML XSD is not at*CI=true needs it*"])
    monkeypatch.delenv("CI")
    skipped = pytester.runpytest_inprocess("-p", "tests.conftest", "-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["SKIPPED*TwiML XSD is not at*"])


# -- make_app closes what it made ------------------------------------------------------------------

USES_MAKE_APP = """
from tests.conftest import MENU_PATH


def test_two_apps(make_app, tmp_path):
    (tmp_path / "other").mkdir()
    assert make_app(MENU=str(MENU_PATH)).test_client().get("/healthz").status_code == 200
    other = make_app(tmp_path / "other", MENU=str(MENU_PATH))
    assert other.test_client().get("/healthz").status_code == 200
"""


def test_make_app_closes_each_app_after_its_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.web import IvrState

    closed: list[IvrState] = []
    monkeypatch.setattr(IvrState, "close", lambda self: closed.append(self))
    pytester.makepyfile(USES_MAKE_APP)
    pytester.runpytest_inprocess("-p", "tests.conftest").assert_outcomes(passed=1)
    folders = [Path(str(state.db.url.database)).parent for state in closed]
    assert len(folders) == 2 and folders[1] == folders[0] / "other"


# -- the walker ------------------------------------------------------------------------------------

DOCUMENTS = {
    "/voice": """<Response>
        <Gather action="/voice/step?s=1#rc=2&amp;rp=all" numDigits="1" timeout="3">
            <Say>Press 1 &amp; wait.</Say>
        </Gather>
        <Say>Nothing pressed.</Say>
        <Redirect>/voice/timeout?s=1&amp;timeout=1</Redirect>
    </Response>""",
    "/voice/step": '<Response><Dial action="dialled?s=2">+8610123456789</Dial></Response>',
    "/voice/dialled": '<Response><Gather action="/elsewhere"><Say>Again?</Say></Gather><Hangup/></Response>',
    "/voice/timeout": '<Response><Gather/><Redirect method="GET">/voice/get?s=3</Redirect></Response>',
    "/voice/get": "<Response><Hangup/></Response>",
}
Seen = list[tuple[str, str, dict[str, str]]]


@pytest.fixture
def fake() -> tuple[Flask, Seen]:
    """A service answering each path with its document in DOCUMENTS; the requests it got."""
    app = Flask(__name__)
    seen: Seen = []

    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        seen.append((request.method, request.full_path.rstrip("?"), dict(request.values)))
        return Response(DOCUMENTS[request.path], mimetype="text/xml", headers={"X-IVR-Node": path})

    return app, seen


def test_an_answer_reads_verbs_prompts_and_actions() -> None:
    answer = Twiml.parse(DOCUMENTS["/voice"])
    gather = answer.find(Gather)
    assert gather is not None and gather.num_digits == 1 and gather.timeout == 3
    assert answer.action(Gather) == "/voice/step?s=1#rc=2&rp=all"
    assert answer.said == "Press 1 & wait. Nothing pressed."
    assert answer.find(Dial) is None and answer.action(Dial) is None
    with pytest.raises(AssertionError, match="not TwiML"):
        Twiml.parse("<html><body>Oops</body></html>")


def test_keys_go_to_the_actions_without_fragments_and_relative_urls_are_resolved(fake: tuple[Flask, Seen]) -> None:
    app, seen = fake
    call = WebCall(app.test_client(), sid="CAwalk")
    assert seen[-1][:2] == ("POST", "/voice") and call.node == "voice" and call.said.startswith("Press 1")
    call.press("1")
    assert seen[-1][:2] == ("POST", "/voice/step?s=1")
    assert seen[-1][2]["Digits"] == "1" and seen[-1][2]["CallSid"] == "CAwalk"
    call.dial_ends("busy", 3)
    assert seen[-1][1] == "/voice/dialled?s=2"
    assert (seen[-1][2]["DialCallStatus"], seen[-1][2]["DialCallDuration"]) == ("busy", "3")
    with pytest.raises(AssertionError, match="no step number"):
        call.press("1")  # the service always writes its step number: a URL without one is a bug
    with pytest.raises(AssertionError, match="Hangup"):
        call.silence()  # after this Gather's timeout Twilio hangs up: there is nothing to follow


def test_a_timeout_runs_the_redirect_after_the_gather_with_its_method(fake: tuple[Flask, Seen]) -> None:
    app, seen = fake
    call = WebCall(app.test_client(), caller="+8613800000000")
    call.silence()
    method, url, form = seen[-1]
    assert (method, url) == ("POST", "/voice/timeout?s=1&timeout=1") and "Digits" not in form
    call.silence()
    method, url, form = seen[-1]
    assert method == "GET" and url.startswith("/voice/get?s=3&") and form["From"] == "+8613800000000"
    assert call.find(Hangup) is not None
    with pytest.raises(AssertionError, match="no <Gather> to time out"):
        call.silence()
    assert len(call.answers) == len(call.nodes) == len(seen) == 3
