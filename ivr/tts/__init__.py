"""Text to speech with pyttsx3, wrapped so that callers never see it fail.

Every result is *verified* telephony audio: a WAV file, 8 kHz, mono, 16-bit
PCM, whose duration is plausible for its text.

Why a wrapper at all
--------------------
pyttsx3 2.99's Linux driver (espeak-ng) loses output.  Its driver starts
espeak-ng in ``AUDIO_OUTPUT_RETRIEVAL`` mode, which is *asynchronous*:
``runAndWait`` returns as soon as synthesis has been started, and the file is
written later, from espeak-ng's own thread, when the message ends.  A short
text finishes inside the driver's 10 ms poll, so it seems to work; a long one
(more than about ten seconds of speech: thirty Chinese characters) does not,
and a script that exits, or reads the file, right after ``runAndWait`` finds no
file.  The driver also never forgets the file name of a ``save_to_file``, so a
later ``say`` on the same engine writes into the earlier file.

So each job here:

- runs in a worker *process* (a hung or confused espeak-ng is killed, not
  lived with), with a fresh pyttsx3 engine for each job (no stale file name);
- waits for pyttsx3's ``finished-utterance`` notification, which the driver
  sends only after the file is closed, instead of trusting ``runAndWait``;
- is verified (decodes, has sound, duration plausible for the text) and done
  again in a fresh worker when it is not, a few times, before giving up with a
  :class:`TTSError` that says what went wrong.

The engine's output (22,050 Hz from espeak-ng) is resampled to 8 kHz here.
Each language is spoken at its own rate (:func:`default_rate`): pyttsx3's
single default of 200 words a minute is slow for espeak-ng's Mandarin and
fast for its English.

Nothing here reads the environment.  Voices and rates other than the
platform's are passed in by the callers (``ivr render``, the simulator's
speakers, the admin's browser phone), which take them from
:class:`ivr.config.Settings`.

The modules
-----------
- :mod:`ivr.tts.wav`: decoding, resampling, trimming and checking audio;
- :mod:`ivr.tts.voice`: voices, speaking rates, the engine's identity;
- :mod:`ivr.tts.worker`: the worker process and its protocol;
- :mod:`ivr.tts.backend`: the :class:`Backend` protocol and :class:`Pyttsx3Backend`;
- :mod:`ivr.tts.synth`: :class:`Synthesizer` (verification and retries) and
  the process-wide :func:`synthesize`.

Everything callers use is importable from :mod:`ivr.tts` itself.
"""

from __future__ import annotations

from ivr.tts.backend import Backend, Pyttsx3Backend
from ivr.tts.errors import TTSError
from ivr.tts.synth import Synthesizer, synthesize, voices
from ivr.tts.voice import (
    Voice,
    VoiceNotFound,
    default_rate,
    default_voice,
    engine_version,
)
from ivr.tts.wav import (
    AUDIO_VERSION,
    SAMPLE_RATE,
    audio_problems,
    plausible_duration,
    to_telephony,
    wav_duration,
)

# The worker protocol's writer, for tests that stand in for a worker process.
from ivr.tts.worker import send as _send  # noqa: F401

__all__ = [
    "AUDIO_VERSION",
    "SAMPLE_RATE",
    "Backend",
    "Pyttsx3Backend",
    "Synthesizer",
    "TTSError",
    "Voice",
    "VoiceNotFound",
    "audio_problems",
    "default_rate",
    "default_voice",
    "engine_version",
    "plausible_duration",
    "synthesize",
    "to_telephony",
    "voices",
    "wav_duration",
]
