"""The browser phone's calls: simulated calls to this app, with a person in a browser as the caller.

A call is the terminal simulator's call (:func:`ivr.phone.run.simulate`:
the same TwiML interpreter, on the real clock), run in a background thread
against this very app in-process (WSGI, no network).  The caller is a
:class:`BrowserCaller`: its keys come over HTTP into a queue.  What the
interpreter does goes, as the simulator's JSON events, into the call's log,
which the page polls.  The prompts' audio is in :mod:`ivr.web.admin.webphone_speech`;
the page fetches it by the opaque references of :mod:`ivr.web.admin.webphone_clips`
(each prompt's event carries its ``clip`` URL), never by its words.

Calls live in this process's memory (at most :attr:`PhoneManager.max_calls`
at once; one the page stops polling hangs up after ``idle_timeout``).  Under
gunicorn the phone needs a single worker (with threads), or sticky sessions:
another worker knows nothing of the call.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.types import WSGIApplication

from ivr.phone import events as ev
from ivr.phone.callers import DTMF, CallerHungUp, InputKind, LiveCaller
from ivr.phone.client import WsgiClient
from ivr.phone.clock import Clock, RealClock
from ivr.web.admin.webphone_clips import ClipBook, FilesClip, PlayRuns, PromptWatcher, SayClip
from ivr.web.admin.webphone_speech import PhoneSpeaker, SpeechCache, SpeechUnavailable, tts_language, valid_language

__all__ = [
    "DTMF",
    "BrowserCaller",
    "PhoneBusy",
    "PhoneCall",
    "PhoneManager",
    "PhoneSpeaker",
    "SpeechCache",
    "SpeechUnavailable",
    "tts_language",
    "valid_language",
]

log = logging.getLogger("ivr.admin.phone")

POLL_SECONDS = 0.2
"""How often a waiting caller looks whether the call was hung up or abandoned."""
MAX_EVENTS = 2000
"""A call with more events than this is hung up: a tester's call never needs so many."""
FROM_NUMBER = "+8613800138000"
"""The number the browser phone calls from (the simulator's default)."""


class PhoneBusy(Exception):
    """Too many phone calls are in progress."""


# -- the caller -------------------------------------------------------------------


class BrowserCaller(LiveCaller):
    """A person at the browser phone: keys arrive from HTTP requests through a thread-safe queue.

    A :class:`~ivr.phone.callers.LiveCaller`, as the terminal caller is:
    keys act at once and timeouts are real; keys pressed while nothing listens
    (during a message, a transfer) are dropped, as on a phone line, and the
    page is told.  The call hangs up when the page says so, or when
    ``alive()`` turns false (the page stopped polling).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        note: Callable[[str, str], None] | None = None,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.note = note or (lambda message, kind: None)
        """Tells the page something: ``note(message, kind)``, kind "note" or "recording"."""
        self.alive = alive or (lambda: True)
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._hung_up = threading.Event()
        self.hangup_reason = ""

    # -- from the web side ---------------------------------------------------------

    def press(self, keys: str) -> None:
        """Keys the person pressed (0-9, * and #), in order."""
        for key in keys:
            if key in DTMF:
                self._keys.put(key)

    def hang_up(self, reason: str = "caller") -> None:
        """The person hung up (or the page went away)."""
        if not self._hung_up.is_set():
            self.hangup_reason = reason
            self._hung_up.set()
            self._keys.put("")  # wakes a waiting wait_key at once

    @property
    def hung_up(self) -> bool:
        """Whether the call was hung up from this side."""
        return self._hung_up.is_set()

    # -- the Caller protocol ---------------------------------------------------------

    def _check(self) -> None:
        if not self._hung_up.is_set() and not self.alive():
            self.hang_up("idle")
        if self._hung_up.is_set():
            raise CallerHungUp

    def begin(self, kind: InputKind) -> str | None:
        """The call listens; at a recording, tell the person how to stop it."""
        self._check()
        if kind == "record":
            self.note("recording: the phone cannot hear you; press # (the finish key) to stop", "recording")
        return None

    def _next_key(self, timeout: float) -> str | None:
        """A key from the queue; ``""`` when none came within a poll (or a hang-up woke the wait)."""
        try:
            return self._keys.get(timeout=min(timeout, POLL_SECONDS))
        except queue.Empty:
            return ""

    def _dropped(self, key: str) -> None:
        """The page is told of a key pressed while nothing listened."""
        self.note(f"key {key} dropped: nothing was listening for keys", "note")


# -- calls -------------------------------------------------------------------------------


@dataclass
class _Log:
    events: list[dict[str, Any]]
    ended: bool = False
    reason: str = ""


class PhoneCall:
    """One browser-phone call: its caller, its event log, its prompts' clips, and the thread that plays it.

    ``speech_base`` is where the page fetches clips (``<speech_base><call id>/speech/<clip id>``);
    ``speak`` says whether ``<Say>`` prompts get clips (there is a speech engine).
    """

    def __init__(
        self,
        owner: str,
        base_url: str,
        idle_timeout: float,
        audio_labels: Callable[[str], str],
        *,
        speech_base: str = "/admin/phone/calls/",
        speak: bool = False,
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self.owner = owner
        self.base_url = base_url
        self.idle_timeout = idle_timeout
        self.audio_labels = audio_labels
        self.speech_base = speech_base
        self.speak = speak
        self.clips = ClipBook()
        self.watcher: PromptWatcher | None = None
        """The interpreter's client, watched (set when the call starts): which files make one prompt."""
        self._runs = PlayRuns()
        self.created = time.monotonic()
        self.last_seen = self.created
        self.call_sid = ""
        self._log = _Log([])
        self._cond = threading.Condition()
        self.caller = BrowserCaller(note=self.note, alive=self._alive)
        self.thread: threading.Thread | None = None

    def _alive(self) -> bool:
        return time.monotonic() - self.last_seen < self.idle_timeout

    def touch(self) -> None:
        """The page is still there."""
        self.last_seen = time.monotonic()

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self._log.ended

    def add(self, item: dict[str, Any]) -> None:
        """Append to the log and wake the pollers."""
        with self._cond:
            if self._log.ended:
                return
            item["i"] = len(self._log.events)
            self._log.events.append(item)
            if len(self._log.events) >= MAX_EVENTS and not self.caller.hung_up:
                self.caller.hang_up("too long")
            self._cond.notify_all()

    def note(self, message: str, kind: str = "note") -> None:
        """A remark for the tester (not one of the interpreter's events); kind "recording" starts a recording."""
        self.add({"event": kind, "message": message, "t": round(self.caller.clock.now(), 3)})

    def on_event(self, event: ev.Event) -> None:
        """The interpreter's event, made fit for the page."""
        item = ev.to_dict(event)
        if isinstance(event, ev.CallEvent):
            self.call_sid = event.call_sid
        if isinstance(event, ev.Request):
            # The page needs the path and status, not the parameters (they would echo passwords).
            item.pop("params", None)
            item["path"] = self._local(event.url) or event.url
            if self.watcher is not None:
                self._runs, self.watcher.runs = self.watcher.runs, PlayRuns()
        if isinstance(event, ev.SayEvent) and self.speak:
            item["clip"] = self._clip(SayClip(event.text, event.language))
        if isinstance(event, ev.PlayEvent) and event.url:
            item["label"] = self.audio_labels(event.url)
            if self._local(event.url) is None:
                item["url"] = event.url  # elsewhere (a CDN): the browser fetches it itself
            else:
                # This app's files by reference, a run of them as one clip: no file names, no order to read.
                item.pop("url", None)
                run = self._runs.at(event.url)
                if run is None:
                    item["part"] = True  # its sound is in the clip of the run it belongs to
                else:
                    audio = self.watcher.joined(run) if self.watcher is not None else b""
                    item["clip"] = self._clip(FilesClip(audio))
        if isinstance(event, ev.RedirectEvent | ev.GatherEvent):
            key = "url" if isinstance(event, ev.RedirectEvent) else "action"
            item[key] = self._local(str(item[key])) or item[key]
        if isinstance(event, ev.End) and self.caller.hangup_reason == "idle":
            item["reason"] = "abandoned"
        self.add(item)

    def _clip(self, clip: SayClip | FilesClip) -> str:
        """Keep ``clip`` for the page; the URL it fetches it from."""
        return f"{self.speech_base}{self.id}/speech/{self.clips.add(clip)}"

    def watch(self, client: WsgiClient) -> PromptWatcher:
        """The client the interpreter is to use: ``client``, watched for the runs of files to join."""
        self.watcher = PromptWatcher(client, lambda url: self._local(url) is not None)
        return self.watcher

    def _local(self, url: str) -> str | None:
        """``url`` as a path on this app, or None if it is elsewhere."""
        base = urllib.parse.urlsplit(self.base_url)
        parts = urllib.parse.urlsplit(url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def finish(self, reason: str) -> None:
        """The call is over: no more events; pollers get the news."""
        with self._cond:
            self._log.ended = True
            self._log.reason = reason
            self._cond.notify_all()

    def since(self, after: int, wait: float = 0.0) -> tuple[list[dict[str, Any]], bool, str]:
        """Events from number ``after`` on, waiting up to ``wait`` seconds for one; and whether the call ended."""
        self.touch()
        deadline = time.monotonic() + max(0.0, wait)
        with self._cond:
            while len(self._log.events) <= after and not self._log.ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self._log.events[max(0, after) :]), self._log.ended, self._log.reason

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the call's thread; True if it has ended."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True


class PhoneManager:
    """The browser phone's calls in this process.

    ``app`` is called in-process at ``base_url`` (the app's public URL when it
    has one, so Twilio signatures check out).  ``speech`` gives prompts their
    real lengths; without it, lengths are estimated from the text.
    """

    def __init__(
        self,
        app: WSGIApplication,
        base_url: str = "http://localhost",
        *,
        auth_token: str | None = None,
        speech: SpeechCache | None = None,
        audio_dir: Path | None = None,
        max_calls: int = 8,
        idle_timeout: float = 120.0,
    ) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.speech = speech
        self.audio_dir = audio_dir
        self.max_calls = max_calls
        self.idle_timeout = idle_timeout
        self._calls: dict[str, PhoneCall] = {}
        self._lock = threading.Lock()
        self._labels: dict[str, str] | None = None

    def _prune(self) -> None:
        now = time.monotonic()
        for cid, call in list(self._calls.items()):
            if call.ended and now - call.last_seen > self.idle_timeout:
                del self._calls[cid]

    def calls(self) -> list[PhoneCall]:
        """The calls this process knows (in progress, or ended a short while ago)."""
        with self._lock:
            return list(self._calls.values())

    def active(self) -> int:
        """Calls not yet over."""
        with self._lock:
            return sum(1 for c in self._calls.values() if not c.ended)

    def start(self, owner: str, speech_base: str = "/admin/phone/calls/") -> PhoneCall:
        """Place a call for the session ``owner``; :class:`PhoneBusy` when too many are in progress.

        ``speech_base`` is the URL path the page fetches the call's clips under.
        """
        with self._lock:
            self._prune()
            if sum(1 for c in self._calls.values() if not c.ended) >= self.max_calls:
                raise PhoneBusy(
                    f"{self.max_calls} phone calls are in progress already: hang one up, "
                    f"or wait {int(self.idle_timeout)} s for an abandoned one to end"
                )
            call = PhoneCall(
                owner,
                self.base_url,
                self.idle_timeout,
                self._label,
                speech_base=speech_base,
                speak=self.speech is not None,
            )
            self._calls[call.id] = call
        call.thread = threading.Thread(target=self._run, args=(call,), name=f"ivr-phone-{call.id}", daemon=True)
        call.thread.start()
        return call

    def get(self, call_id: str, owner: str) -> PhoneCall | None:
        """The call ``call_id`` if ``owner`` placed it."""
        with self._lock:
            call = self._calls.get(call_id)
        if call is None or not secrets.compare_digest(call.owner, owner):
            return None
        return call

    def hang_up_all(self, owner: str | None = None) -> list[PhoneCall]:
        """Hang up the calls of ``owner`` (all calls when None); returns them."""
        with self._lock:
            calls = [c for c in self._calls.values() if owner is None or c.owner == owner]
        for call in calls:
            call.caller.hang_up()
        return calls

    def shutdown(self, timeout: float = 5.0) -> None:
        """Hang up every call and wait for their threads."""
        for call in self.hang_up_all():
            call.join(timeout)

    def _run(self, call: PhoneCall) -> None:
        # Imported here: the simulator is only needed once someone places a call.
        from ivr.phone.run import simulate

        reason = "error"
        try:
            result = simulate(
                self.app,
                caller=call.caller,
                speaker=PhoneSpeaker(self.speech),
                on_event=call.on_event,
                url=f"{self.base_url}/voice",
                client=call.watch(WsgiClient(self.app, f"{self.base_url}/")),
                status_callback="/status",
                auth_token=self.auth_token,
                from_number=FROM_NUMBER,
            )
            reason = result.reason
        except Exception as exc:  # never let a tester's call die silently, nor take the thread's traceback to stderr
            log.exception("browser phone call failed")
            call.add({"event": "error", "message": f"the phone failed: {type(exc).__name__}: {exc}", "status": None})
        finally:
            call.finish(reason)

    def _label(self, url: str) -> str:
        """What a played file says, from the audio manifest when there is one; else its name."""
        name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
        if self._labels is None:
            self._labels = {}
            if self.audio_dir is not None:
                try:
                    from ivr.audio import Manifest

                    manifest = Manifest.load(self.audio_dir)
                    self._labels = {n: e.text for n, e in manifest.files.items() if e.text}
                except Exception as exc:  # no manifest or an unreadable one: file names will do
                    log.debug("no audio labels: %s", exc)
        return self._labels.get(name, name)
