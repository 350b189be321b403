"""The individual ``ivr lint`` rules, each a function of a :class:`LintContext`.

- :mod:`~ivr.authoring.rules.context`: the menu being linted and what its keys do.
- :mod:`~ivr.authoring.rules.structure`: options, depth, the agent key, retries.
- :mod:`~ivr.authoring.rules.timing`: how long the greeting and prompts take to say.
- :mod:`~ivr.authoring.rules.wording`: key-first wording, global keys, offered and announced keys.

:data:`CHECKS` lists them in the order :func:`ivr.authoring.lint.lint_menu`
runs them, which is the order of the findings.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.authoring.rules.context import LintContext
from ivr.authoring.rules.structure import no_agent_key, no_retry_path, too_deep, too_many_options
from ivr.authoring.rules.timing import prompt_lengths
from ivr.authoring.rules.wording import global_keys_consistent, key_first, prompt_keys

__all__ = ["CHECKS", "LintContext"]

CHECKS: tuple[Callable[[LintContext], None], ...] = (
    too_many_options,
    too_deep,
    no_agent_key,
    no_retry_path,
    prompt_lengths,
    key_first,
    global_keys_consistent,
    prompt_keys,
)
"""Every check, in the order the findings come in."""
