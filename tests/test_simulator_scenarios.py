"""Scenario files that call a webhook of their own: ``url:`` and ``method:``, against a GET survey app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask, Response, current_app, request

from ivr.cli import main
from ivr.simulator.scenarios import ScenarioError, load, run_one
from tests.twiml_fixture_app import serve


def _xml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{body}</Response>', mimetype="text/xml")


def survey_app() -> Flask:
    """A third-party style survey: a GET webhook only (POST is a 405), a 1-5 rating ended by "#", a recording."""
    app = Flask(__name__)
    app.config["LOG"] = []

    @app.before_request
    def _log() -> None:
        current_app.config["LOG"].append((request.method, request.path, request.args.to_dict()))

    @app.get("/survey")
    def question_1() -> Response:
        return _xml(
            '<Gather input="dtmf" finishOnKey="#" timeout="5" action="/survey/why" method="GET">'
            "<Say>Thank you for calling. Rate our service from 1 to 5, then press the hash key.</Say>"
            "</Gather><Say>We did not get your rating. Goodbye.</Say><Hangup/>"
        )

    @app.get("/survey/why")
    def question_2() -> Response:
        rating = request.args.get("Digits", "")
        if rating not in {"1", "2", "3", "4", "5"}:
            return _xml('<Say>Please give a number from 1 to 5.</Say><Redirect method="GET">/survey</Redirect>')
        return _xml(
            f"<Say>You rated us {rating}. After the tone, tell us why, then press the hash key.</Say>"
            '<Record maxLength="30" finishOnKey="#" action="/survey/done" method="GET"/>'
            "<Say>We did not hear anything. Goodbye.</Say><Hangup/>"
        )

    @app.get("/survey/done")
    def done() -> Response:
        said = "Thank you for your comments." if request.args.get("RecordingUrl") else "No recording."
        return _xml(f"<Say>{said} Goodbye.</Say><Hangup/>")

    return app


SURVEY = """\
- name: rating and a comment
  {target}
  steps:
    - hear: Rate our service from 1 to 5
      press: "4#"
    - hear: You rated us 4
      press: rec:3
  end:
    as: hangup
    hear: Thank you for your comments.
- name: a rating out of range asks again
  {target}
  steps:
    - press: "9#"
    - hear: [Please give a number from 1 to 5, Rate our service]
      press: "-"
  end:
    as: hangup
    hear: We did not get your rating.
"""


@pytest.fixture
def survey() -> Any:
    with serve(survey_app()) as (base, app):
        yield f"{base}/survey", app


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "survey.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_ivr_test_url_calls_a_get_webhook_with_the_scenarios_method(survey: Any, tmp_path: Path) -> None:
    url, app = survey
    path = _write(tmp_path, SURVEY.format(target="method: GET"))
    run = CliRunner().invoke(main, ["test", str(path), "--url", url])
    assert run.exit_code == 0, run.output
    assert "2 passed, 0 failed" in run.output
    log = app.config["LOG"]
    assert {method for method, _, _ in log} == {"GET"}
    assert ("GET", "/survey/why", {"Digits": "4"}) in [(m, p, {"Digits": a.get("Digits")}) for m, p, a in log]
    assert any(p == "/survey/done" and a.get("RecordingUrl") for _, p, a in log)


def test_without_method_the_webhook_is_posted_to_and_the_get_app_refuses(survey: Any, tmp_path: Path) -> None:
    url, app = survey
    path = _write(tmp_path, SURVEY.format(target=""))
    run = CliRunner().invoke(main, ["test", str(path), "--url", url])
    assert run.exit_code == 1
    assert "0 passed, 2 failed" in run.output and "HTTP 405" in run.output
    assert {method for method, _, _ in app.config["LOG"]} == {"POST"}


def test_a_scenario_names_its_own_url_and_method(survey: Any, tmp_path: Path) -> None:
    url, app = survey
    path = _write(tmp_path, SURVEY.format(target=f"url: {url}\n  method: get"))
    assert [s.method for s in load(path)] == ["GET", "GET"]
    run = CliRunner().invoke(main, ["test", str(path)])
    assert run.exit_code == 0, run.output
    assert "2 passed, 0 failed" in run.output and app.config["LOG"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: odd\nmethod: PUT\nsteps: []\n", "survey.yaml method: scenario 'odd': 'PUT' is not an HTTP method"),
        ("- name: first\n- name: second\n  method: [GET]\n", "survey.yaml[1] method: scenario 'second': ['GET']"),
        ("name: numbered\nmethod: 1\n", "method: scenario 'numbered': 1 is not an HTTP method"),
        ("name: nowhere\nurl: 8080\n", "survey.yaml url: scenario 'nowhere': expected the webhook's URL as a string"),
    ],
)
def test_a_bad_method_or_url_is_refused_naming_the_file_and_scenario(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError, match=r"use GET or POST|as a string") as err:
        load(path)
    assert message in str(err.value)
    run = CliRunner().invoke(main, ["test", str(path)])
    assert run.exit_code == 1 and message in run.output and "Traceback" not in run.output


DOCS = Path(__file__).resolve().parent.parent / "docs" / "simulator.md"


def _reference() -> str:
    text = DOCS.read_text(encoding="utf-8")
    return text.split("## Scenario format", 1)[1].split("\n## ", 1)[0]


def test_the_scenario_format_reference_documents_every_key() -> None:
    from ivr.simulator.scenarios import END_KEYS, ENDINGS, SCENARIO_KEYS, STEP_KEYS

    documented = set(re.findall(r"^\| `(\w+)` \|", _reference(), re.M))
    assert documented == SCENARIO_KEYS | STEP_KEYS | END_KEYS
    assert all(f"`{ending}`" in _reference() for ending in ENDINGS)


def test_the_reference_example_passes(survey: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, _reference().split("```yaml\n", 1)[1].split("```", 1)[0])
    in_process, over_http = load(path)
    assert over_http.url and over_http.method == "GET"
    first = run_one(in_process)
    assert first.ok, first.failures
    second = run_one(over_http, url=survey[0])  # the example's app, on this test's port
    assert second.ok, second.failures
