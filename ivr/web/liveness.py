"""How long a call may stay silent and still be in progress: what its last answer makes Twilio wait for.

After each answer Twilio plays the prompts, then waits: for keys (the
Gather's ``timeout``, again after each key), for a recording (its
``maxLength``) or for the transferred call (the Dial's ring ``timeout``, then
the conversation, which Twilio cuts at ``timeLimit``, 4 hours unless told).
The next request comes when that is over.  A call whose next request is
later than that, and a margin, is not really in progress: its caller hung up
and the status callback was lost.  The webhook stores the moment with each
step (``calls.live_until``); the dashboard's "live now" counts by it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ivr.authoring.durations import estimate_seconds
from ivr.engine import Action, Gather, Play, Record, Say, Transfer

__all__ = ["DIAL_TIME_LIMIT", "LOOP_FOREVER_SECONDS", "PLAY_SECONDS", "expected_wait"]

DIAL_TIME_LIMIT = 4 * 3600
"""Twilio's ``<Dial timeLimit>`` default: a transferred call lasts 4 hours at most."""
PLAY_SECONDS = 60.0
"""What a ``<Play>`` of a recording whose length is unknown is taken to last."""
LOOP_FOREVER_SECONDS = 600.0
"""What a prompt said in a loop until the caller acts (``loop: 0``) is taken to last."""


@functools.lru_cache(maxsize=4096)
def _say_seconds(say: Say) -> float:
    # Prompts repeat from call to call; estimating one is a pass of a regex over its words.
    return estimate_seconds(say)


def _prompt_seconds(prompt: Say | Play) -> float:
    once = _say_seconds(prompt) if isinstance(prompt, Say) else (0.5 * len(prompt.digits) or PLAY_SECONDS)
    return LOOP_FOREVER_SECONDS if prompt.loop == 0 else once * prompt.loop


def expected_wait(actions: Sequence[Action]) -> float:
    """Seconds from an answer with ``actions`` to the latest the call's next request is due."""
    seconds = 0.0
    for action in actions:
        if isinstance(action, Say | Play):
            seconds += _prompt_seconds(action)
        elif isinstance(action, Gather):
            seconds += sum(_prompt_seconds(p) for p in action.prompts)
            # Twilio waits ``timeout`` for the first key and again after each one.
            seconds += action.timeout * max(1, action.max_digits)
        elif isinstance(action, Record):
            seconds += action.max_seconds + action.silence
        elif isinstance(action, Transfer):
            seconds += action.timeout + DIAL_TIME_LIMIT
    return seconds
