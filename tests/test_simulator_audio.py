"""The call recording: WAV format, DTMF tones decoded back, prompt lengths from audio, TTS fallback."""

from __future__ import annotations

import random
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.phone import events as ev
from ivr.phone.callers import parse_answers
from ivr.phone.dtmf import decode, tone
from ivr.phone.recorder import read_wav, samples_to_wav
from ivr.phone.run import simulate
from ivr.phone.speaker import TtsSpeaker, Utterance, estimate_seconds
from tests.test_tts import recording_tts
from tests.twiml_fixture_app import create_app, tone_wav


class NoisySpeaker:
    """Prompts as loud pseudo-random noise: the DTMF decoder must not hear keys in speech-like sound."""

    def __init__(self) -> None:
        self.rng = random.Random(5)

    def render(self, text: str, language: str, voice: str | None) -> Utterance:
        seconds = estimate_seconds(text)
        noise = array("h", (self.rng.randint(-9000, 9000) for _ in range(int(seconds * 8000))))
        return Utterance(seconds, noise)

    def start(self, audio: array[int] | None) -> None: ...

    def stop(self) -> None: ...

    def notices(self) -> list[str]:
        return []


def _samples(path: Path) -> tuple[wave._wave_params, array[int]]:
    with wave.open(str(path)) as w:
        return w.getparams(), array("h", w.readframes(w.getnframes()))


def test_recorded_call_is_8khz_mono_16bit_and_its_tones_decode_to_the_keys_pressed(tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    result = simulate(
        create_app(), parse_answers("1 2 rec:3#"), url="http://localhost/voice", speaker=NoisySpeaker(), record=out
    )
    params, samples = _samples(out)
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    assert len(samples) / 8000 == pytest.approx(result.duration, abs=0.2)
    assert decode(samples) == "12#"


def test_the_cli_records_a_call_to_the_project_app(tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    run = CliRunner().invoke(
        main,
        [
            "simulate",
            "--fresh",
            "--keys",
            "9 2 0",
            "--mute",
            "--record",
            str(out),
            "--clock",
            "2026-11-22T10:00:00+08:00",
        ],
    )
    assert run.exit_code == 0, run.output
    _, samples = _samples(out)
    assert decode(samples) == "920"


def test_decoder_reads_every_key_and_repeated_keys() -> None:
    keys = "0123456789*#ABCD11"
    gap = array("h", bytes(2 * 800))
    signal = array("h")
    for k in keys:
        signal += tone(k) + gap
    assert decode(signal) == keys


def test_play_audio_is_resampled_to_8khz() -> None:
    samples = read_wav(tone_wav(seconds=1.0, rate=16000))
    assert len(samples) == 8000
    assert read_wav(samples_to_wav(samples)) == samples


def test_prompt_length_comes_from_the_synthesised_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import tts

    two_and_a_half = samples_to_wav(array("h", bytes(2 * 20000)))
    monkeypatch.setattr(tts, "synthesize", lambda text, language, voice=None, *, rate=None: two_and_a_half)
    result = simulate(create_app(), parse_answers("-"), url="http://localhost/gather/finish", speaker=TtsSpeaker())
    say = next(e for e in result.events if isinstance(e, ev.SayEvent))
    no_input = next(e for e in result.events if isinstance(e, ev.NoInput))
    assert say.seconds == 2.5
    assert no_input.t == pytest.approx(2.5 + 3)  # the fixture's timeout is 3 s, counted after the prompt


def test_tts_failure_falls_back_to_timed_silence_and_says_so_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import tts

    def broken(text: str, language: str, voice: Any = None, *, rate: Any = None) -> bytes:
        raise tts.TTSError("espeak produced no file")

    monkeypatch.setattr(tts, "synthesize", broken)
    result = simulate(create_app(), parse_answers("1 -"), url="http://localhost/voice", speaker=TtsSpeaker())
    warnings = [e.message for e in result.events if isinstance(e, ev.Warning)]
    assert len(warnings) == 1 and "espeak produced no file" in warnings[0]
    say = next(e for e in result.events if isinstance(e, ev.SayEvent))
    assert say.seconds == estimate_seconds(say.text)
    assert result.exit_code == 0


def test_the_speaker_speaks_with_the_voices_and_rates_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = recording_tts(monkeypatch)
    monkeypatch.setenv("IVR_TTS_RATE_ZH_CN", "300")  # the speaker reads no environment: the simulator passes settings
    speaker = TtsSpeaker({"zh-CN": "yue"}, {"zh-CN": 240})
    speaker.render("您好", "cmn-CN", "Polly.Zhiyu")  # Twilio's names mean nothing to the local engine
    speaker.render("Hello", "en-US", None)
    assert asked == [
        ("您好", "zh-CN", "yue", 240),
        ("Hello", "en-US", None, None),  # not configured: ivr.tts picks the platform's voice and rate
    ]
