"""Small TwiML apps for ``ivr explore``'s tests, each with one trait the explorer must find."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, request
from werkzeug.serving import make_server


def _xml(body: str, status: int = 200) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', status, mimetype="text/xml")


def _menu(say: str, action: str, digits: int = 1) -> str:
    gather = f'<Gather numDigits="{digits}" action="{action}" timeout="3"><Say>{say}</Say></Gather>'
    return gather + f"<Redirect>{action}</Redirect>"


def broken_tree() -> Flask:
    """Press 1 for news (a closing prompt), 2 for weather (HTTP 500), 0 for an agent."""
    app = Flask("broken_tree")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu("Press 1 for news, press 2 for weather, press 0 for an agent.", "/choice"))

    @app.route("/choice", methods=["POST"])
    def choice() -> Response:
        digits = request.form.get("Digits", "")
        if digits == "1":
            return _xml("<Say>No news today. Goodbye.</Say><Hangup/>")
        if digits == "2":
            return Response("boom", 500)
        if digits == "0":
            return _xml("<Dial>+15550100</Dial>")
        return _xml("<Say>Sorry, that is not an option.</Say><Redirect>/voice</Redirect>")

    return app


def step_counter() -> Flask:
    """Three real states (main, billing, support) whose URLs carry a step number and the CallSid."""
    app = Flask("step_counter")

    def url(name: str) -> str:
        step = int(request.args.get("s", "0")) + 1
        return f"/{name}?s={step}&amp;sid={request.form.get('CallSid', '')}&amp;lang=en"

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu("Press 1 for billing, press 2 for support.", url("main")))

    @app.route("/main", methods=["POST"])
    def main() -> Response:
        digits = request.form.get("Digits", "")
        if digits == "1":
            return _xml(_menu("Billing. Press 9 to go back.", url("billing")))
        if digits == "2":
            return _xml("<Say>Support is closed. Goodbye.</Say><Hangup/>")
        return _xml(_menu("Press 1 for billing, press 2 for support.", url("main")))

    @app.route("/billing", methods=["POST"])
    def billing() -> Response:
        if request.form.get("Digits") == "9":
            return _xml(_menu("Press 1 for billing, press 2 for support.", url("main")))
        return _xml(_menu("Billing. Press 9 to go back.", url("billing")))

    return app


def endless_loop() -> Flask:
    """Press 1 to continue: every input, for ever, comes back to the same prompt."""
    app = Flask("endless_loop")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu("Press 1 to continue.", "/voice"))

    return app


def dead_key() -> Flask:
    """Press 1 for hours (works), press 2 for the address: but 2 does what an invalid key does."""
    app = Flask("dead_key")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu("Press 1 for our hours, press 2 for our address.", "/choice"))

    @app.route("/choice", methods=["POST"])
    def choice() -> Response:
        if request.form.get("Digits") == "1":
            return _xml("<Say>We are open nine to five. Goodbye.</Say><Hangup/>")
        return _xml("<Say>Sorry, I did not get that.</Say><Redirect>/voice</Redirect>")

    return app


def all_500() -> Flask:
    """A third-party style app whose menu works and whose every key answers HTTP 500."""
    app = Flask("all_500")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu("Press 1 for sales, press 2 for service, press 3 for accounts.", "/key"))

    @app.route("/key", methods=["POST"])
    def key() -> Response:
        return Response("internal error", 500)

    return app


def survey() -> Flask:
    """A GET-webhook survey: an age (finishOnKey #), a yes/no question, then a recorded comment."""
    app = Flask("survey")

    @app.route("/survey", methods=["GET"])
    def start() -> Response:
        return _xml(
            '<Gather finishOnKey="#" action="/survey/age" method="GET" timeout="3">'
            "<Say>Question 1. Enter your age, then press the hash key.</Say></Gather>"
            "<Say>We did not get your age. Goodbye.</Say>"
        )

    @app.route("/survey/age", methods=["GET"])
    def age() -> Response:
        return _xml(
            '<Gather numDigits="1" action="/survey/happy" method="GET" timeout="3">'
            "<Say>Question 2. Are you happy with our service? Press 1 for yes, press 2 for no.</Say></Gather>"
            "<Say>Goodbye.</Say>"
        )

    @app.route("/survey/happy", methods=["GET"])
    def happy() -> Response:
        if request.args.get("Digits") not in ("1", "2"):
            return _xml('<Say>Please answer with 1 or 2.</Say><Redirect method="GET">/survey/age</Redirect>')
        return _xml(
            "<Say>Question 3. After the beep, tell us how we can do better.</Say>"
            '<Record maxLength="30" timeout="2" action="/survey/done" method="GET"/>'
            "<Say>No comment recorded. Thank you, goodbye.</Say>"
        )

    @app.route("/survey/done", methods=["GET"])
    def done() -> Response:
        return _xml("<Say>Thank you for your comment. Goodbye.</Say><Hangup/>")

    return app


def shared_entry(node_header: bool) -> Flask:
    """Two flows (1 activate, 2 report a loss) asking the same account and PIN questions, state by CallSid.

    Account 1111 has PIN 1234, account 2222 PIN 9999.  A wrong PIN is asked again
    with the tries left ("2 tries left", then 1), then the call ends.  With
    ``node_header`` every answer names where the call is (``X-IVR-Node``).
    """
    app = Flask("shared_entry")
    calls: dict[str, dict[str, str]] = {}
    pins = {"1111": "1234", "2222": "9999"}

    def answer(node: str, body: str) -> Response:
        resp = _xml(body)
        if node_header:
            resp.headers["X-IVR-Node"] = node
        return resp

    def ask(node: str, say: str, action: str) -> Response:
        gather = f'<Gather finishOnKey="#" action="{action}" timeout="3"><Say>{say}</Say></Gather>'
        return answer(node, gather + "<Say>Goodbye.</Say><Hangup/>")

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        calls[request.form["CallSid"]] = {}
        return answer("main", _menu("To activate a card, press 1. To report a loss, press 2.", "/flow"))

    @app.route("/flow", methods=["POST"])
    def flow() -> Response:
        call = calls[request.form["CallSid"]]
        digits = request.form.get("Digits", "")
        if digits not in ("1", "2"):
            return answer("main", "<Say>Not an option.</Say><Redirect>/voice</Redirect>")
        call["flow"] = "activate" if digits == "1" else "report"
        return ask(f"{call['flow']}_account", "Enter your account number, then press hash.", "/account")

    @app.route("/account", methods=["POST"])
    def account() -> Response:
        call = calls[request.form["CallSid"]]
        call["account"], call["tries"] = request.form.get("Digits", ""), "3"
        return ask(f"{call['flow']}_pin", "Enter your PIN, then press hash.", "/pin")

    @app.route("/pin", methods=["POST"])
    def pin() -> Response:
        call = calls[request.form["CallSid"]]
        if pins.get(call["account"]) == request.form.get("Digits", ""):
            done = "Your card is active." if call["flow"] == "activate" else "Your card is reported lost."
            return answer(f"{call['flow']}_done", f"<Say>{done} Goodbye.</Say><Hangup/>")
        tries = int(call["tries"]) - 1
        call["tries"] = str(tries)
        if not tries:
            return answer("wrong", "<Say>Too many wrong PINs. Goodbye.</Say><Hangup/>")
        left = f"Wrong PIN, {tries} {'try' if tries == 1 else 'tries'} left."
        return ask(f"{call['flow']}_pin", f"{left} Enter your PIN, then press hash.", "/pin")

    return app


def long_greeting() -> Flask:
    """A welcome far over the lint's 8 s before a menu; the menu alone is heard again after an invalid key."""
    app = Flask("long_greeting")
    options = "Press 1 for sales. Press 2 for support."
    welcome = "Welcome to the example hotline. " + "We are glad that you called us today. " * 5

    @app.route("/voice", methods=["POST"])
    def voice() -> Response:
        return _xml(_menu(welcome + options, "/choice"))

    @app.route("/choice", methods=["POST"])
    def choice() -> Response:
        if request.form.get("Digits") in ("1", "2"):
            return _xml("<Say>Thank you. Goodbye.</Say><Hangup/>")
        return _xml(_menu(options, "/choice"))

    return app


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` on a real port on 127.0.0.1, in a thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
