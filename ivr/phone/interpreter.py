"""The TwiML interpreter: Twilio's side of a call.

:class:`Interpreter` posts the webhooks, parses each TwiML answer into typed
verbs and plays them, with Twilio's rules (see the issue and the README of the
simulator): request parameters, relative URLs, Gather's timeouts and
fall-through, Dial and Record actions, the application-error announcement, a
guard against redirect loops, the status callback.

Everything it does goes to the timeline as events; everything it needs from
the outside comes in as an adapter: a :class:`~ivr.phone.client.WebhookClient`,
a :class:`~ivr.phone.callers.Caller` (which owns the clock), a
:class:`~ivr.phone.speaker.Speaker` and, optionally, a
:class:`~ivr.phone.recorder.CallRecorder`.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import urllib.parse
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from ivr.phone import NODE_HEADER, PATH_HEADER, PROMPTS_HEADER, STATUS_CALLBACK_HEADER, twiml
from ivr.phone import events as ev
from ivr.phone.callers import Caller, CallerHungUp
from ivr.phone.client import TransportError, WebhookClient, WebhookRequest, WebhookResponse, sign
from ivr.phone.dtmf import KEY_GAP, TONE_SECONDS, tone
from ivr.phone.recorder import AudioError, CallRecorder, beep, read_wav
from ivr.phone.speaker import Speaker

__all__ = ["APPLICATION_ERROR", "CallResult", "CallSettings", "Interpreter"]

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
"""What Twilio tells the caller when the application fails."""
DIAL_OUTCOMES = ("completed", "busy", "no-answer", "failed")
_RING_SECONDS = {"completed": 4.0, "busy": 3.0, "failed": 1.0}
FAILED_REASONS = frozenset({"error"})
"""End reasons that mean the application failed (exit code 1)."""


@dataclass(frozen=True)
class CallSettings:
    """How to place the call and how the simulated world behaves."""

    url: str
    method: Literal["GET", "POST"] = "POST"
    from_number: str = "+8613800138000"
    to_number: str = "+8612333"
    dial_outcomes: Sequence[str] = ("completed",)
    """How successive ``<Dial>``s end; the last one repeats."""
    dial_talk_seconds: int = 30
    """How long an answered ``<Dial>`` lasts."""
    status_callback: str | None = None
    status_callback_method: Literal["GET", "POST"] = "POST"
    auth_token: str | None = None
    max_hops: int = 25
    """Documents fetched in a row with no key from the caller before the loop guard stops the call."""
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    account_sid: str = "AC" + "0" * 32


@dataclass(frozen=True)
class CallResult:
    """How the call ended, and its timeline."""

    reason: str
    duration: float
    events: tuple[ev.Event, ...]

    @property
    def exit_code(self) -> int:
        """0: the call ran its course; 1: the application failed; 3: a verb the simulator cannot play."""
        if self.reason in FAILED_REASONS:
            return 1
        return 3 if self.reason == "unsupported" else 0


class AppFailure(Exception):
    """The application failed: Twilio's "application error"."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class _Next:
    """Fetch the next document."""

    url: str
    method: str
    params: Mapping[str, str]
    caller_acted: bool  # the caller keyed or spoke: resets the loop guard


_Outcome = _Next | str | None  # next document, end reason, or carry on with the next verb


class Interpreter:
    """Plays one call: fetch, parse, execute, until the call ends."""

    def __init__(
        self,
        client: WebhookClient,
        caller: Caller,
        speaker: Speaker,
        settings: CallSettings,
        *,
        recorder: CallRecorder | None = None,
        on_event: Callable[[ev.Event], None] | None = None,
    ) -> None:
        self.client = client
        self.caller = caller
        self.clock = caller.clock
        self.speaker = speaker
        self.settings = settings
        self.recorder = recorder
        self.on_event = on_event
        self.events: list[ev.Event] = []
        self._status = "ringing"
        self._dials = 0
        self._audio_cache: dict[str, tuple[array[int] | None, float]] = {}
        self._answered = False
        self._prompt_words: dict[str, str] = {}
        self._announced_callback: str | None = None  # the app's last X-IVR-Status-Callback, absolute

    # -- the call -------------------------------------------------------------

    def run(self) -> CallResult:
        """Place the call and play it to the end."""
        s = self.settings
        self._emit(ev.CallEvent(call_sid=s.call_sid, from_=s.from_number, to=s.to_number, url=s.url))
        try:
            reason = self._call()
        except CallerHungUp:
            reason = "caller_hangup"
        except AppFailure as failure:
            self._emit(ev.ErrorEvent(message=failure.message, status=failure.status))
            reason = "error"
            with contextlib.suppress(CallerHungUp):  # a caller may hang up on the apology too
                self._prompt(twiml.Say(APPLICATION_ERROR, "en-US", None), self.settings.url, listen=False)
        self.speaker.stop()
        duration = round(self.clock.now(), 3)
        self._status_callback(reason, duration)
        self._emit(ev.End(reason=reason, duration=duration))
        return CallResult(reason, duration, tuple(self.events))

    def _call(self) -> str:
        url: str = self.settings.url
        method: str = self.settings.method
        params: dict[str, str] = {}
        hops = 0
        while True:
            hops += 1
            if hops > self.settings.max_hops:
                raise AppFailure(
                    f"loop guard: {hops - 1} documents in a row without a key from the caller (last: {method} {url})"
                )
            document, doc_url = self._fetch(url, method, params)
            outcome = self._execute(document, doc_url)
            if isinstance(outcome, str):
                return outcome
            if outcome is None:
                return "end_of_document"
            url, method, params = outcome.url, outcome.method, dict(outcome.params)
            if outcome.caller_acted:
                hops = 0

    def _emit(self, event: ev.Event) -> None:
        event = _at(event, self.clock.now())
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _note(self, message: str | None) -> None:
        if message:
            self._emit(ev.Warning(message=message))

    def _notices(self) -> None:
        for message in self.speaker.notices():
            self._emit(ev.Warning(message=message))

    # -- HTTP ---------------------------------------------------------------------

    def _params(self, status: str | None = None) -> dict[str, str]:
        s = self.settings
        return {
            "CallSid": s.call_sid,
            "AccountSid": s.account_sid,
            "From": s.from_number,
            "To": s.to_number,
            "Caller": s.from_number,
            "Called": s.to_number,
            "CallStatus": status or self._status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def _request(self, method: str, url: str, params: Mapping[str, str]) -> WebhookRequest:
        # A fragment (Twilio's connection overrides, "#rc=2&rp=all") is never sent, nor signed.
        url = urllib.parse.urldefrag(url).url
        request = WebhookRequest(method, url, params)
        if self.settings.auth_token:
            signature = sign(self.settings.auth_token, request)
            # The token goes along so that a client signs again each request that follows a redirect.
            request = WebhookRequest(method, url, params, {"X-Twilio-Signature": signature}, self.settings.auth_token)
        return request

    def _fetch(self, url: str, method: str, extra: Mapping[str, str]) -> tuple[twiml.Document, str]:
        """The TwiML answer to a request, and the URL it came from after HTTP redirects: its URLs are relative to it."""
        params = {**self._params(), **extra}
        try:
            response = self.client.send(self._request(method, url, params))
        except TransportError as exc:
            self._emit(ev.Request(method=method, url=url, status=None, params=params))
            raise AppFailure(str(exc)) from None
        self._status = "in-progress"  # after the first answer, Twilio reports the call as in progress
        node = response.header(NODE_HEADER)
        # The words of prompts played from files, for the caller's view: this document's only.
        self._prompt_words = dict(urllib.parse.parse_qsl(response.header(PROMPTS_HEADER) or ""))
        if announced := (response.header(STATUS_CALLBACK_HEADER) or "").strip():
            self._announced_callback = urllib.parse.urljoin(url, announced)
        path = tuple(n.strip() for n in (response.header(PATH_HEADER) or "").split(",") if n.strip())
        self._emit(ev.Request(method=method, url=url, status=response.status, node=node, path=path, params=params))
        self._redirects(url, response)
        if response.status == 403:
            raise AppFailure(self._refused(method, url), 403)
        if not 200 <= response.status < 300:
            raise AppFailure(f"HTTP {response.status} from {method} {url}", response.status)
        # Twilio reads an answer by its content type: audio is played and plain text read out, then
        # Twilio hangs up; XML (and HTML) is TwiML (https://www.twilio.com/docs/api/twiml/your_response).
        # Relative URLs resolve against the URL the document was retrieved from (RFC 3986, 5.1.3).
        doc_url = response.redirects[-1].url if response.redirects else url
        if response.content_type.startswith("audio/"):
            return self._audio_answer(doc_url, response.body), doc_url
        if response.content_type == "text/plain":
            text = response.body.decode("utf-8", "replace").strip()
            return twiml.Document(((twiml.Say(text),) if text else ()) + (twiml.Hangup(),)), doc_url
        try:
            return twiml.parse_twiml(response.body), doc_url
        except twiml.TwimlError as exc:
            raise AppFailure(f"invalid TwiML from {url}: {exc}", response.status) from None

    def _redirects(self, url: str, response: WebhookResponse) -> None:
        """The HTTP redirects followed to get ``response``, on the timeline."""
        for hop in response.redirects:
            where = urllib.parse.urlsplit(hop.url).netloc
            message = f"HTTP {hop.status} from {url} → {hop.method} {hop.url}"
            if hop.other_host:
                message += f" (another host, {where}: sent without X-Twilio-Signature)"
            self._emit(
                ev.HttpRedirect(
                    status=hop.status, method=hop.method, url=hop.url, other_host=hop.other_host, message=message
                )
            )
            url = hop.url

    def _refused(self, method: str, url: str) -> str:
        """What a 403 most likely means for a Twilio app: it refused the request's signature."""
        head = f"HTTP 403 from {method} {url}: the application refused the request"
        if not self.settings.auth_token:
            return (
                f"{head}; if it checks X-Twilio-Signature, pass --auth-token or set TWILIO_AUTH_TOKEN "
                "to the application's auth token"
            )
        return f"{head}; if it checks X-Twilio-Signature, the auth token given does not match the application's"

    def _audio_answer(self, url: str, body: bytes) -> twiml.Document:
        """An audio answer: Twilio plays it, then hangs up (a ``<Play>`` of it, then ``<Hangup>``)."""
        if url not in self._audio_cache:
            try:
                samples = read_wav(body)
                self._audio_cache[url] = (samples, len(samples) / 8000)
            except AudioError as exc:
                self._emit(ev.Warning(message=f"cannot play the audio answered by {url}: {exc}"))
                self._audio_cache[url] = (None, 0.0)
        return twiml.Document((twiml.Play(url), twiml.Hangup()))

    def _audio(self, url: str) -> tuple[array[int] | None, float]:
        """A ``<Play>`` file's samples and length; (None, 0) with a warning if it cannot be played."""
        if url not in self._audio_cache:
            try:
                response = self.client.send(WebhookRequest("GET", url))
                if not 200 <= response.status < 300:
                    raise AudioError(f"HTTP {response.status}")
                samples = read_wav(response.body)
                self._audio_cache[url] = (samples, len(samples) / 8000)
            except (TransportError, AudioError) as exc:
                self._emit(ev.Warning(message=f"cannot play {url}: {exc}; Twilio would skip it"))
                self._audio_cache[url] = (None, 0.0)
        return self._audio_cache[url]

    def _status_callback(self, reason: str, duration: float) -> None:
        # The call's own status callback wins over the one the app announced (X-IVR-Status-Callback).
        url = self.settings.status_callback or self._announced_callback
        if not url:
            return
        status = "completed"
        if reason == "reject":  # Twilio: a rejected call ends busy or unanswered, as the reason says
            last = next((e for e in reversed(self.events) if isinstance(e, ev.RejectEvent)), None)
            status = "busy" if last is not None and last.reason == "busy" else "no-answer"
        params = {**self._params(status), "CallDuration": str(math.ceil(duration) if self._answered else 0)}
        method = self.settings.status_callback_method
        url = urllib.parse.urljoin(self.settings.url, url)
        try:
            response = self.client.send(self._request(method, url, params))
        except TransportError as exc:
            self._emit(ev.Request(method=method, url=url, status=None, params=params))
            self._emit(ev.Warning(message=f"status callback failed: {exc}"))
            return
        self._emit(ev.Request(method=method, url=url, status=response.status, params=params))
        if not 200 <= response.status < 300:
            self._emit(ev.Warning(message=f"status callback answered HTTP {response.status}"))

    # -- verbs ----------------------------------------------------------------------

    def _execute(self, document: twiml.Document, doc_url: str) -> _Outcome:
        for i, verb in enumerate(document.verbs):
            if not isinstance(verb, twiml.Reject):
                self._answered = True
            outcome = self._verb(verb, doc_url, first=i == 0)
            if outcome is not None:
                return outcome
        return "end_of_document"

    def _verb(self, verb: twiml.Verb, doc_url: str, *, first: bool) -> _Outcome:
        if isinstance(verb, twiml.Say | twiml.Play | twiml.Pause):
            self._prompt(verb, doc_url, listen=False)
            return None
        if isinstance(verb, twiml.Gather):
            return self._gather(verb, doc_url)
        if isinstance(verb, twiml.Redirect):
            url = urllib.parse.urljoin(doc_url, verb.url) if verb.url else doc_url
            self._emit(ev.RedirectEvent(url=url, method=verb.method))
            return _Next(url, verb.method, {}, caller_acted=False)
        if isinstance(verb, twiml.Hangup):
            self._emit(ev.HangupEvent())
            return "hangup"
        if isinstance(verb, twiml.Reject):
            self._emit(ev.RejectEvent(reason=verb.reason))
            return "reject"
        if isinstance(verb, twiml.Dial):
            return self._dial(verb, doc_url)
        if isinstance(verb, twiml.Record):
            return self._record(verb, doc_url)
        self._emit(ev.UnsupportedEvent(verb=verb.verb))
        return "unsupported"

    def _prompt(self, prompt: twiml.Prompt, doc_url: str, *, listen: bool) -> str | None:
        """Play one prompt; inside a Gather (``listen``), return the key that interrupted it."""
        if isinstance(prompt, twiml.Pause):
            self._emit(ev.PauseEvent(seconds=prompt.length))
            return self._sound(None, float(prompt.length), listen)
        if isinstance(prompt, twiml.Play) and prompt.digits is not None:
            self._emit(ev.PlayEvent(url=None, digits=prompt.digits, seconds=_digits_seconds(prompt.digits)))
            for ch in prompt.digits:
                key = self._sound(None if ch == "w" else tone(ch), 0.5 if ch == "w" else TONE_SECONDS + KEY_GAP, listen)
                if key is not None or self._was_skipped():
                    return key
            return None
        if isinstance(prompt, twiml.Play):
            assert prompt.url is not None
            url = urllib.parse.urljoin(doc_url, prompt.url)
            audio, seconds = self._audio(url)
            self._emit(ev.PlayEvent(url=url, seconds=seconds, text=self._prompt_words.get(prompt.url)))
        else:
            utterance = self.speaker.render(prompt.text, prompt.language, prompt.voice)
            self._notices()
            audio, seconds = utterance.audio, utterance.seconds
            self._emit(
                ev.SayEvent(
                    text=prompt.text, language=prompt.language, voice=prompt.voice, loop=prompt.loop, seconds=seconds
                )
            )
        # loop="0" plays over and over: outside a Gather up to Twilio's cap; inside one,
        # the caller answers over it after the first round.
        rounds = prompt.loop or twiml.SAY_LOOP_CAP
        for n in range(rounds):
            key = self._sound(audio, seconds, listen)
            if key is not None or self._was_skipped():
                return key  # a key cut the prompt, or the caller skipped the rest of it (its rounds too)
            if prompt.loop == 0 and listen and n == 0:
                self.caller.prompts_over()
        return None

    def _sound(self, audio: array[int] | None, seconds: float, listen: bool) -> str | None:
        """Something the caller hears for ``seconds``; stops early if listening and a key comes."""
        start = self.clock.now()
        self.speaker.start(audio)
        if not listen:
            self.caller.idle(start + seconds, prompt=True)
            key = None
        else:
            key = self.caller.wait_key(start + seconds, prompt=True)
        if key is not None or self._told():
            self.speaker.stop()  # a key cut the prompt, or the caller skipped it (the clock is at its end)
        if self.recorder is not None:
            self.recorder.add(start, audio, self.clock.now() - start)
        return key

    def _told(self) -> bool:
        """Put on the timeline what the caller did meanwhile (keys ignored, a prompt skipped); True if it skipped."""
        told = self.caller.take_events()
        for event in told:
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)
        return any(isinstance(event, ev.PromptSkipped) for event in told)

    def _was_skipped(self) -> bool:
        return bool(self.events) and isinstance(self.events[-1], ev.PromptSkipped)

    def _key(self, key: str) -> None:
        if self.recorder is not None:
            self.recorder.key(self.clock.now(), key)

    def _gather(self, g: twiml.Gather, doc_url: str) -> _Outcome:
        action = urllib.parse.urljoin(doc_url, g.action) if g.action else doc_url
        gather = ev.GatherEvent(numDigits=g.num_digits, timeout=g.timeout, finishOnKey=g.finish_on_key, action=action)
        self._emit(gather)
        self._note(self.caller.begin("gather"))
        key: str | None = None
        for prompt in g.prompts:
            key = self._prompt(prompt, doc_url, listen=True)
            if key is not None:
                break
        if key is None:
            self.caller.prompts_over()
        digits, finished = "", ""
        while True:
            if key is None:
                key = self.caller.wait_key(self.clock.now() + g.timeout)
                if key is None:
                    break  # the timeout, counted from the end of the prompts or from the last key
            self._key(key)
            if g.finish_on_key and key == g.finish_on_key:
                finished = key
                break
            digits += key
            key = None
            if g.num_digits is not None and len(digits) >= g.num_digits:
                break
        unused = self.caller.end_input()
        if unused:
            self._emit(ev.Warning(message=f"keys {unused!r} came after the Gather had ended and were not pressed"))
        if digits:
            self._emit(ev.Input(digits=digits, finished_on_key=finished))
            return _Next(action, g.method, {"Digits": digits, "FinishedOnKey": finished}, caller_acted=True)
        self._emit(ev.NoInput())
        if g.action_on_empty_result:
            return _Next(action, g.method, {"Digits": "", "FinishedOnKey": finished}, caller_acted=False)
        return None  # Twilio goes on with the next verb

    def _dial(self, d: twiml.Dial, doc_url: str) -> _Outcome:
        outcomes = self.settings.dial_outcomes or ("completed",)
        status = outcomes[min(self._dials, len(outcomes) - 1)]
        self._dials += 1
        ring = float(d.timeout) if status == "no-answer" else _RING_SECONDS.get(status, 1.0)
        talk = min(self.settings.dial_talk_seconds, d.time_limit) if status == "completed" else 0
        self._emit(ev.DialEvent(number=d.number, status=status, duration=talk))
        # On the line with someone else: the caller's keys go to them, not to this call.
        self.caller.idle(self.clock.now() + ring + talk)
        self._told()  # keys pressed during the transfer went nowhere
        if d.action is None:
            return None  # without an action Twilio goes on with the next verb
        params = {"DialCallStatus": status, "DialCallSid": "CA" + secrets.token_hex(16)}
        params["DialBridged"] = "true" if status == "completed" else "false"
        if status == "completed":
            params["DialCallDuration"] = str(talk)
        return _Next(urllib.parse.urljoin(doc_url, d.action), d.method, params, caller_acted=True)

    def _record(self, r: twiml.Record, doc_url: str) -> _Outcome:
        self._note(self.caller.begin("record"))
        if r.play_beep:
            self._sound(beep(), 0.5, listen=False)
        seconds, key = self.caller.record(r.max_length, r.finish_on_key, r.timeout)
        if key:
            self._key(key)
        self.caller.end_input()
        whole = round(seconds)
        self._emit(ev.RecordEvent(seconds=whole, digits=key))
        if whole == 0:
            return None  # an empty recording: Twilio skips the action and goes on with the next verb
        sid = "RE" + secrets.token_hex(16)
        params = {
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{self.settings.account_sid}/Recordings/{sid}",
            "RecordingDuration": str(whole),
            "RecordingSid": sid,
        }
        if key:
            params["Digits"] = key
        action = urllib.parse.urljoin(doc_url, r.action) if r.action else doc_url
        return _Next(action, r.method, params, caller_acted=True)


def _digits_seconds(digits: str) -> float:
    return round(sum(0.5 if ch == "w" else TONE_SECONDS + KEY_GAP for ch in digits), 3)


def _at(event: ev.Event, t: float) -> ev.Event:
    return replace(event, t=round(t, 3))
