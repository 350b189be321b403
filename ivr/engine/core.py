"""The call-flow engine: (menu, state, event) in, (actions, new state) out.

Modelled on h11: no I/O, no clock, no globals.  The menu document is the
transition table; :meth:`Engine.send` is a pure step.  Adapters (the web
service, the simulator, tests) do the talking, the timing and the storing.

Caller mistakes (wrong keys, silence, nonsense digits from a forged request)
are handled by the menu's dialog rules and never raise.  An event that cannot
happen in the call's state is the adapter's mistake: :class:`EngineUsageError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.engine.actions import Action, Gather, Hangup, Invoke, Prompted, Record, Transfer
from ivr.engine.conditions import holds
from ivr.engine.events import (
    CallStarted,
    Digits,
    Event,
    HungUp,
    NoInput,
    RecordingDone,
    ServiceDone,
    ServiceFailed,
    TransferDone,
)
from ivr.engine.speech import fill, has_fields, render_parts
from ivr.engine.state import ACCEPTS, CallState
from ivr.errors import EngineUsageError, StaleStateError
from ivr.menu.model import (
    DialogSettings,
    HangupNode,
    InputNode,
    LanguageNode,
    Menu,
    MenuNode,
    MessageNode,
    NewPasswordRule,
    Prompt,
    ServiceNode,
    SetNode,
    SwitchNode,
    TransferNode,
    VoicemailNode,
)
from ivr.rules import is_new_password, normalize_id_number

__all__ = ["CONFIRM_KEY", "MAX_HOPS", "REENTER_KEY", "Engine", "Step"]

MAX_HOPS = 64
"""Nodes passed through in one step without waiting; a guard, as the checks forbid such loops."""

CONFIRM_KEY = "1"
REENTER_KEY = "2"
_KEYS = frozenset("0123456789*#")


@dataclass(frozen=True, slots=True)
class Step:
    """What one event led to: actions for the adapter, and the call's new state."""

    actions: tuple[Action, ...]
    state: CallState
    path: tuple[str, ...] = ()
    """The nodes the call entered in this step, in order (message nodes it passed through too)."""


class _Out(list[Action]):
    """A step's actions, and the nodes entered on the way."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []


class Engine:
    """Runs calls through one menu.  Holds no call's state; safe to share.

    What it works out from the menu alone (each node's dialog settings, the
    words of prompts without variables) it keeps, since the menu never
    changes: every step of every call would otherwise work them out again.
    """

    def __init__(self, menu: Menu) -> None:
        self.menu = menu
        self._dialogs: dict[int, tuple[MenuNode | LanguageNode | InputNode, DialogSettings]] = {}
        self._fixed: dict[tuple[int, str], tuple[Prompt, tuple[Prompted, ...]]] = {}
        """Prompts said alike on every call, by (the prompt's id, language); the prompt is kept with its words,
        so its id cannot pass to another object."""

    # -- public API -----------------------------------------------------

    def start(self, event: CallStarted) -> Step:
        """Answer a new call: the state for it and the first prompt."""
        menu = self.menu
        language = event.language if event.language in menu.languages else menu.default_language
        assert language is not None
        state = CallState(
            menu_id=menu.id,
            menu_version=menu.version,
            node=menu.start,
            awaiting="digits",
            language=language,
            vars={"caller": event.caller, "language": language},
        )
        out = _Out()
        state = self._enter(state, menu.start, out)
        return Step(tuple(out), state, tuple(out.path))

    def send(self, state: CallState, event: Event) -> Step:
        """Feed one event for a call in ``state``; get the actions and the new state."""
        self.check_state(state)
        out = _Out()
        if isinstance(event, HungUp):
            return Step((), _ended(state), ())
        if isinstance(event, CallStarted):
            raise EngineUsageError("the call has already started; use Engine.start for a new call")
        if not isinstance(event, ACCEPTS[state.awaiting]):
            raise EngineUsageError(
                f"{type(event).__name__} cannot happen while the call awaits {state.awaiting} at node {state.node!r}"
            )
        if isinstance(event, NoInput) or (isinstance(event, Digits) and event.digits == ""):
            state = self._retry(state, "no_input", out)
        elif isinstance(event, Digits):
            state = self._digits(state, event.digits, out)
        elif isinstance(event, ServiceDone):
            state = self._service_done(state, event, out)
        elif isinstance(event, ServiceFailed):
            state = self._service_failed(state, out)
        elif isinstance(event, TransferDone):
            state = self._transfer_done(state, event.status, out)
        elif isinstance(event, RecordingDone):
            variables = dict(state.vars, recording_url=event.url, recording_seconds=str(max(0, event.seconds)))
            node = self.menu.nodes[state.node]
            assert isinstance(node, VoicemailNode)
            target = node.on_no_audio if not event.url and node.on_no_audio else node.next
            state = self._enter(state.evolve(vars=variables), target, out)
        return Step(tuple(out), state, tuple(out.path))

    def check_state(self, state: CallState) -> None:
        """Raise :class:`StaleStateError` if ``state`` does not fit this menu."""
        menu = self.menu
        if state.menu_id != menu.id or state.menu_version != menu.version:
            raise StaleStateError(
                f"the call began on menu {state.menu_id} {state.menu_version}; this is {menu.id} {menu.version}"
            )
        if state.node not in menu.nodes or state.language not in menu.languages:
            raise StaleStateError(f"the call is at {state.node!r}, which this menu does not have")

    # -- moving between nodes ---------------------------------------------

    def _say(self, prompt: Prompt | None, state: CallState) -> list[Prompted]:
        if prompt is None:
            return []
        key = (id(prompt), state.language)
        known = self._fixed.get(key)
        if known is not None and known[0] is prompt:
            return list(known[1])
        said = render_parts(self.menu, prompt, state.language, state.vars)
        if not has_fields(self.menu, prompt, state.language):
            self._fixed[key] = (prompt, tuple(said))
        return said

    def _dialog(self, node: MenuNode | LanguageNode | InputNode) -> DialogSettings:
        """The dialog settings in force at ``node`` (the menu's, worked out once per node)."""
        known = self._dialogs.get(id(node))
        if known is not None and known[0] is node:
            return known[1]
        dialog = self.menu.dialog(node)
        self._dialogs[id(node)] = (node, dialog)
        return dialog

    def _enter(self, state: CallState, node_id: str, out: _Out) -> CallState:
        """Go to ``node_id`` and run it until it waits for something."""
        nodes = self.menu.nodes
        limit = self.menu.defaults.max_node_repeats
        for _ in range(MAX_HOPS):
            node = nodes[node_id]
            repeats = state.repeats + 1 if node_id == state.node else 1
            if limit is not None and repeats > limit:
                # As Studio does: the same node run too many times in a row ends the call.
                out.append(Hangup("error"))
                return _ended(state)
            out.path.append(node_id)
            state = state.evolve(node=node_id, no_input=0, invalid=0, repeats=repeats)
            if isinstance(node, (MenuNode, LanguageNode)):
                trail = state.trail
                trail = trail[: trail.index(node_id)] if node_id in trail else trail
                state = state.evolve(trail=(*trail, node_id))
                return self._ask(state, node, out, first=True)
            if isinstance(node, InputNode):
                return self._ask(state, node, out, first=True)
            if isinstance(node, MessageNode):
                out.extend(self._say(node.prompt, state))
                node_id = node.next
                continue
            if isinstance(node, SetNode):
                # Every value is made from the variables as they were before the node.
                variables = dict(state.vars)
                variables.update({name: fill(value, state.vars) for name, value in node.vars.items()})
                state = state.evolve(vars=variables)
                node_id = node.next
                continue
            if isinstance(node, SwitchNode):
                value = fill(node.value, state.vars)
                node_id = next((c.next for c in node.cases if holds(c.if_, value, state.vars)), node.default)
                continue
            if isinstance(node, ServiceNode):
                out.extend(self._say(node.prompt, state))
                args: dict[str, str | None] = {param: state.vars.get(var) for param, var in node.args.items()}
                args.update({param: fill(value, state.vars) for param, value in node.values.items()})
                out.append(Invoke(node.service, args))
                return state.evolve(awaiting="service")
            if isinstance(node, TransferNode):
                out.extend(self._say(node.prompt, state))
                out.append(Transfer(node.to, node.timeout))
                return state.evolve(awaiting="transfer")
            if isinstance(node, VoicemailNode):
                out.extend(self._say(node.prompt, state))
                out.append(Record(node.max_seconds, node.finish_key, node.silence, node.beep))
                return state.evolve(awaiting="recording")
            assert isinstance(node, HangupNode)
            out.extend(self._say(node.prompt, state))
            out.append(Hangup("menu"))
            return _ended(state)
        out.append(Hangup("error"))
        return _ended(state)

    def _ask(
        self,
        state: CallState,
        node: MenuNode | LanguageNode | InputNode,
        out: _Out,
        *,
        first: bool = False,
        full: bool = False,
        before: Prompt | None = None,
    ) -> CallState:
        """Prompt for keys at ``node``: the long prompt the first time, else the short one."""
        if state.awaiting == "confirm" and not first:
            assert isinstance(node, InputNode) and node.confirm is not None
            prompts = self._say(before, state) + self._say(node.confirm, state)
            out.append(Gather(tuple(prompts), 1, "", self._dialog(node).timeout))
            return state
        long_prompt = full or state.node not in state.heard
        prompt = node.prompt if long_prompt or node.short_prompt is None else node.short_prompt
        prompts = self._say(before, state) + self._say(prompt, state)
        heard = state.heard if state.node in state.heard else (*state.heard, state.node)
        timeout = self._dialog(node).timeout
        if isinstance(node, InputNode):
            gather = Gather(tuple(prompts), node.max_length, node.finish_key, timeout, node.min_length, node.masked)
        else:
            gather = Gather(tuple(prompts), 1, "", timeout)
        out.append(gather)
        return state.evolve(heard=heard, awaiting="digits")

    def _retry(self, state: CallState, why: str, out: _Out, before: Prompt | None = None) -> CallState:
        """Count a silence or a wrong entry; prompt again, or give up to ``on_exhausted``."""
        node = self.menu.nodes[state.node]
        assert isinstance(node, (MenuNode, LanguageNode, InputNode))
        dialog = self._dialog(node)
        if why == "no_input" and dialog.on_no_input is not None:
            return self._enter(state, dialog.on_no_input, out)
        if why == "no_input":
            count, limit = state.no_input + 1, dialog.max_no_input
            state = state.evolve(no_input=count)
            extra = dialog.no_input_prompt
        else:
            count, limit = state.invalid + 1, dialog.max_invalid
            state = state.evolve(invalid=count)
            extra = before if before is not None else dialog.invalid_prompt
        if count >= limit:
            return self._enter(state, dialog.on_exhausted, out)
        return self._ask(state, node, out, before=extra)

    # -- keys ---------------------------------------------------------------

    def _digits(self, state: CallState, digits: str, out: _Out) -> CallState:
        node = self.menu.nodes[state.node]
        if state.awaiting == "confirm":
            assert isinstance(node, InputNode)
            if digits == CONFIRM_KEY:
                return self._enter(state, node.next, out)
            if digits == REENTER_KEY:
                variables = {k: v for k, v in state.vars.items() if k != node.var}
                state = state.evolve(awaiting="digits", vars=variables)
                return self._ask(state, node, out, full=True)
            return self._retry(state, "invalid", out)
        if isinstance(node, InputNode):
            return self._entry(state, node, digits, out)
        assert isinstance(node, (MenuNode, LanguageNode))
        if len(digits) != 1 or digits not in _KEYS:
            return self._retry(state, "invalid", out)
        if isinstance(node, MenuNode) and digits in node.options:
            return self._enter(state, node.options[digits], out)
        if isinstance(node, LanguageNode) and digits in node.options:
            language = node.options[digits]
            variables = dict(state.vars, language=language)
            # A new language: every prompt is new to the caller again.
            state = state.evolve(language=language, vars=variables, heard=())
            return self._enter(state, node.next, out)
        gk = self.menu.global_keys(node).get(digits)
        if gk is None:
            return self._retry(state, "invalid", out)
        if gk.action == "repeat":
            return self._ask(state, node, out, full=True)
        if gk.action == "back":
            if len(state.trail) >= 2:
                return self._enter(state.evolve(trail=state.trail[:-1]), state.trail[-2], out)
            return self._ask(state, node, out, full=True)
        assert gk.target is not None
        return self._enter(state, gk.target, out)

    def _entry(self, state: CallState, node: InputNode, digits: str, out: _Out) -> CallState:
        value = self._valid_entry(state, node, digits)
        if value is not None and node.match is not None and state.vars.get(node.match) != value:
            if node.on_mismatch is not None:
                # The first entry may be the wrong one: start the pair again.
                out.extend(self._say(self._dialog(node).invalid_prompt, state))
                return self._enter(state, node.on_mismatch, out)
            value = None
        if value is None:
            return self._retry(state, "invalid", out)
        variables = dict(state.vars)
        variables[node.var] = value
        secret = state.secret
        if node.masked and node.var not in secret:
            secret = (*secret, node.var)
        elif not node.masked and node.var in secret:
            secret = tuple(s for s in secret if s != node.var)
        state = state.evolve(vars=variables, secret=secret)
        if node.confirm is not None:
            state = state.evolve(awaiting="confirm", no_input=0, invalid=0)
            return self._ask(state, node, out)
        return self._enter(state, node.next, out)

    def _valid_entry(self, state: CallState, node: InputNode, digits: str) -> str | None:
        """The entry as it is stored, or None when it breaks the node's rules."""
        if not (node.min_length <= len(digits) <= node.max_length):
            return None
        if node.validate_.rule == "cn_ric":
            # Callers key the check character X as "*", as on the real 12333 line.
            return normalize_id_number(digits, keyed=True)
        if node.validate_.rule == "keys":
            return digits if all(key in _KEYS for key in digits) else None
        if not digits.isdigit() or not digits.isascii():
            return None
        if isinstance(node.validate_, NewPasswordRule):
            id_number = state.vars.get(node.validate_.id_var or "", "")
            if not is_new_password(digits, id_number):
                return None
        return digits

    # -- results from adapters -----------------------------------------------

    def _service_done(self, state: CallState, event: ServiceDone, out: _Out) -> CallState:
        node = self.menu.nodes[state.node]
        assert isinstance(node, ServiceNode)
        target = node.outcomes.get(event.outcome) or node.default
        if target is None:
            return self._service_failed(state, out)
        variables = {k: v for k, v in state.vars.items() if k not in state.secret}
        prefix = f"{node.into}." if node.into else ""
        variables.update({prefix + str(k): str(v) for k, v in event.data.items()})
        if node.into:
            variables[f"{node.into}.outcome"] = event.outcome
        # Passwords are dropped as soon as the service that needed them has run.
        return self._enter(state.evolve(vars=variables, secret=()), target, out)

    def _service_failed(self, state: CallState, out: _Out) -> CallState:
        node = self.menu.nodes[state.node]
        assert isinstance(node, ServiceNode)
        variables = {k: v for k, v in state.vars.items() if k not in state.secret}
        state = state.evolve(vars=variables, secret=())
        target = node.on_error or self.menu.defaults.on_error
        if target is None:
            out.append(Hangup("error"))
            return _ended(state)
        return self._enter(state, target, out)

    def _transfer_done(self, state: CallState, status: str, out: _Out) -> CallState:
        node = self.menu.nodes[state.node]
        assert isinstance(node, TransferNode)
        target = node.outcomes.get(status)  # type: ignore[call-overload]
        if target is None:
            out.append(Hangup("menu"))
            return _ended(state)
        return self._enter(state, target, out)


def _ended(state: CallState) -> CallState:
    """The call is over: nothing the caller keyed in secret outlives it."""
    variables = {k: v for k, v in state.vars.items() if k not in state.secret}
    return state.evolve(awaiting="ended", vars=variables, secret=())
