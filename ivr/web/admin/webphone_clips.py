"""The browser phone's prompts by reference: the page fetches each one by an opaque id, as one clip.

A prompt's words in a URL (``/tts?text=...``) end up in access logs, browser
history and proxies, and a read-back carries the caller's ID number.  So each
prompt a call plays gets a random id (:class:`ClipBook`): unguessable, not
derived from the words, and valid only within its call, which only the
session that placed it can reach.  The page fetches
``/admin/phone/calls/<call>/speech/<id>``; the server looks the prompt up.

A prompt played from rendered files is several ``<Play>`` verbs (a read-back
is strung together from digit clips), and the order of their requests would
spell the digits.  :class:`PromptWatcher` sits between the call's interpreter
and the app: it sees each TwiML answer, so it knows which files play one after
another, and fetches and joins them into one WAV on the server.  The page gets
one clip for the run, and no file names.
"""

from __future__ import annotations

import io
import secrets
import threading
import urllib.parse
import wave
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.phone import twiml
from ivr.phone.client import TransportError, WebhookClient, WebhookRequest, WebhookResponse
from ivr.phone.dtmf import SAMPLE_RATE
from ivr.phone.recorder import AudioError, read_wav

__all__ = ["ClipBook", "FilesClip", "PlayRuns", "PromptWatcher", "SayClip", "join_wavs"]

MAX_CLIPS = 2000
"""Clips a call keeps (as many as the events a call may have)."""
MAX_CLIP_BYTES = 32 * 1024 * 1024
"""Joined audio a call keeps; the oldest clips are dropped past it."""
MAX_AUDIO_BYTES = 16 * 1024 * 1024
"""Audio files a call's watcher keeps, to join and to answer the interpreter's fetch of them."""


@dataclass(frozen=True)
class SayClip:
    """A ``<Say>``: synthesised when the page asks (:class:`~ivr.web.admin.webphone_speech.SpeechCache`)."""

    text: str
    language: str


@dataclass(frozen=True)
class FilesClip:
    """A run of ``<Play>`` files of this app, joined into one WAV (empty: none could be read)."""

    wav: bytes


Clip = SayClip | FilesClip


class ClipBook:
    """One call's clips by random id; the oldest go past :data:`MAX_CLIPS` or :data:`MAX_CLIP_BYTES`."""

    def __init__(self, max_clips: int = MAX_CLIPS, max_bytes: int = MAX_CLIP_BYTES) -> None:
        self.max_clips = max_clips
        self.max_bytes = max_bytes
        self._clips: OrderedDict[str, Clip] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, clip: Clip) -> str:
        """Keep ``clip``; its id (128 random bits, URL-safe)."""
        clip_id = secrets.token_urlsafe(16)
        with self._lock:
            self._clips[clip_id] = clip
            self._bytes += _size(clip)
            while len(self._clips) > 1 and (len(self._clips) > self.max_clips or self._bytes > self.max_bytes):
                _, old = self._clips.popitem(last=False)
                self._bytes -= _size(old)
        return clip_id

    def get(self, clip_id: str) -> Clip | None:
        """The clip ``clip_id``, if this call has it."""
        with self._lock:
            return self._clips.get(clip_id)


def _size(clip: Clip) -> int:
    return len(clip.wav) if isinstance(clip, FilesClip) else 0


def join_wavs(files: Sequence[bytes]) -> bytes:
    """WAV files one after another as one 8 kHz mono 16-bit WAV; unreadable ones are left out."""
    samples: array[int] = array("h")
    for data in files:
        try:
            samples.extend(read_wav(data))
        except AudioError:
            continue  # the interpreter warns of it; Twilio would skip it too
    if not samples:
        return b""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    return out.getvalue()


@dataclass(frozen=True)
class _Play:
    url: str
    loop: int
    run: int
    first: bool


class PlayRuns:
    """A TwiML document's ``<Play>`` files of this app, in order, each marked with the run it belongs to.

    A run is files played straight one after another (nothing else between
    them, in the same ``<Gather>`` or outside): what the caller hears as one
    prompt.  :meth:`at` follows the interpreter through the document.
    """

    def __init__(self, plays: Sequence[_Play] = ()) -> None:
        self._plays = list(plays)
        self._cursor = 0

    @classmethod
    def of(cls, document: twiml.Document, doc_url: str, is_local: Callable[[str], bool]) -> PlayRuns:
        """The runs of ``document`` (fetched from ``doc_url``, against which its URLs resolve)."""
        plays: list[_Play] = []
        run = 0
        previous_was_play = False

        def visit(prompts: Sequence[twiml.Verb]) -> None:
            nonlocal run, previous_was_play
            for verb in prompts:
                if isinstance(verb, twiml.Gather):
                    previous_was_play = False
                    visit(verb.prompts)
                    previous_was_play = False
                    continue
                if isinstance(verb, twiml.Play) and verb.url and verb.digits is None:
                    url = urllib.parse.urljoin(doc_url, verb.url)
                    if is_local(url):
                        if not previous_was_play:
                            run += 1
                        plays.append(_Play(url, verb.loop, run, first=not previous_was_play))
                        previous_was_play = True
                        continue
                previous_was_play = False

        visit(document.verbs)
        return cls(plays)

    def at(self, url: str) -> tuple[tuple[str, int], ...] | None:
        """At the interpreter's play of ``url``: the (url, loop) of its run if it starts one, else None.

        A file the document does not list (an audio answer, say) is a run of its own.
        """
        for i in range(self._cursor, len(self._plays)):
            if self._plays[i].url == url:
                self._cursor = i + 1
                if not self._plays[i].first:
                    return None
                run = self._plays[i].run
                return tuple((p.url, p.loop) for p in self._plays[i:] if p.run == run)
        return ((url, 1),)


class PromptWatcher:
    """The call's client, watched: each TwiML answer's runs of files, and the audio files fetched.

    The interpreter sends everything through it (in its own thread, one
    request at a time).  A file it fetched for a run is answered from here
    when the interpreter asks for it, so the app serves each file once.
    """

    def __init__(self, inner: WebhookClient, is_local: Callable[[str], bool], max_bytes: int = MAX_AUDIO_BYTES):
        self.inner = inner
        self.is_local = is_local
        self.max_bytes = max_bytes
        self.runs = PlayRuns()
        """The runs of the latest TwiML answer; the call takes them at the interpreter's next request event."""
        self._audio: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send ``request`` on (or answer a file fetched already), noting what the answer holds."""
        if request.method == "GET" and request.url in self._audio:
            return WebhookResponse(200, self._audio[request.url], {"Content-Type": "audio/wav"})
        response = self.inner.send(request)
        if not 200 <= response.status < 300:
            return response
        doc_url = response.redirects[-1].url if response.redirects else request.url
        if response.content_type.startswith("audio/"):
            self._keep(doc_url, response.body)
        elif response.content_type != "text/plain":
            try:
                self.runs = PlayRuns.of(twiml.parse_twiml(response.body), doc_url, self.is_local)
            except twiml.TwimlError:
                self.runs = PlayRuns()
        return response

    def _keep(self, url: str, body: bytes) -> None:
        if url in self._audio:
            return
        self._audio[url] = body
        self._bytes += len(body)
        while len(self._audio) > 1 and self._bytes > self.max_bytes:
            _, old = self._audio.popitem(last=False)
            self._bytes -= len(old)

    def audio(self, url: str) -> bytes:
        """The file at ``url`` (fetched now if it was not yet); empty if it cannot be had."""
        if url not in self._audio:
            try:
                self.send(WebhookRequest("GET", url))
            except TransportError:
                return b""
        return self._audio.get(url, b"")

    def joined(self, run: Sequence[tuple[str, int]]) -> bytes:
        """The files of ``run`` as one WAV, each as many times as it loops (0, "until a key": once)."""
        return join_wavs([self.audio(url) for url, loop in run for _ in range(max(1, min(loop, 10)))])
