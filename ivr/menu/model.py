"""The menu document as typed data (pydantic v2).

These models check the *shape* of a menu: types, required fields and unknown
keys.  What the menu *means* (targets that exist, reachability, prompts in every
language...) is checked by :mod:`ivr.menu.checks`, which needs the whole
document at once.  Both kinds of fault are the menu author's.

See ``docs/menu-language.md`` for the author's reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    StringConstraints,
    Tag,
    model_validator,
)

__all__ = [
    "DTMF_KEYS",
    "NODE_KINDS",
    "NOT_XML",
    "Audio",
    "Case",
    "Condition",
    "Defaults",
    "GlobalKey",
    "HangupNode",
    "InputNode",
    "LanguageNode",
    "Menu",
    "MenuNode",
    "MessageNode",
    "Node",
    "Prompt",
    "PromptRef",
    "ServiceNode",
    "SetNode",
    "Speech",
    "SwitchNode",
    "Text",
    "Title",
    "TransferNode",
    "VoicemailNode",
    "XmlText",
    "part_text",
    "template_pieces",
]

DTMF_KEYS = "0123456789*#"

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
PromptName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
VAR_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z0-9_\-]{1,64}){0,4}"
"""A variable's name: a word, or dotted words for a namespace (``flow.count``, ``widgets.ask.Digits``)."""
VarName = Annotated[str, StringConstraints(pattern=f"^{VAR_NAME}$")]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
DtmfKey = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Seconds = Annotated[float, Field(gt=0, le=60)]
Attempts = Annotated[int, Field(ge=1, le=10)]


NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""The characters XML 1.0 cannot carry, so neither can TwiML nor the phone that reads it.

Control characters other than tab, line feed and carriage return (XML allows those
three, and to a speech engine they are white space), U+FFFE and U+FFFF, and halves
of UTF-16 surrogate pairs (json can carry them as escapes).  A menu's words may not
hold them (:data:`XmlText`); the TwiML writer drops any that reach it from elsewhere.
"""

# JSON Schema (ECMA 262) patterns count UTF-16 units: a surrogate class there would
# refuse every emoji, so editors are told of the others only (ivr validate says the rest).
_XML_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]*$"


def _not_xml_problem(text: str) -> str | None:
    """Why ``text`` cannot be spoken in TwiML, naming the first bad character and where it is; None if it can."""
    found = NOT_XML.search(text)
    if found is None:
        return None
    char = found.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        what = "half of a UTF-16 pair"
    elif code >= 0xFFFE:
        what = "not a character"
    else:
        what = "a control character"
    more = len(NOT_XML.findall(text)) - 1
    others = f" (and {more} more such character{'s' if more > 1 else ''})" if more else ""
    return (
        f"U+{code:04X} ({what}) at character {found.start() + 1}{others}: XML, and so TwiML, cannot carry it; remove it"
    )


def _carriable(text: str) -> str:
    problem = _not_xml_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


XmlText = Annotated[str, AfterValidator(_carriable), Field(json_schema_extra={"pattern": _XML_PATTERN})]
"""A string a call speaks or shows (a prompt's text, a title): none of :data:`NOT_XML` in it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(RootModel[dict[LanguageTag, Annotated[XmlText, StringConstraints(min_length=1, max_length=4000)]]]):
    """A prompt's words in each language: ``{"zh-CN": "...", "en-US": "..."}``."""

    model_config = ConfigDict(frozen=True)

    def in_language(self, language: str) -> str | None:
        """The words in ``language``, or None when the text lacks it."""
        return self.root.get(language)


PromptRef = Annotated[str, StringConstraints(pattern=r"^@[A-Za-z_][A-Za-z0-9_]{0,63}$")]
"""A reference to a named prompt: ``"@welcome"``."""

Loop = Annotated[int, Field(ge=1, le=10)]
"""How many times a part is played in a row (TwiML's ``loop``; never 0, which would loop for ever)."""


class Speech(_Strict):
    """Words spoken with their own voice or language: ``{"say": "@welcome", "voice": "Polly.Zhiyu", "loop": 2}``.

    The words are still keyed by the menu's languages; ``language`` names the
    language the speech engine speaks them in, for a hotline whose menu speaks one
    language but whose prompts do not all sound alike (a Spanish greeting on an
    English line).  ``voice`` is the speech engine's voice for this part alone.
    """

    say: PromptRef | Text
    voice: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] | None = None
    language: LanguageTag | None = None
    loop: Loop = 1


AudioUrl = Annotated[str, StringConstraints(pattern=r"^(https?://[^\s<>\"]{1,2000}|/[^\s<>\"]{0,2000})$")]
PlayDigits = Annotated[str, StringConstraints(pattern=r"^[0-9*#wW]{1,64}$")]


class Audio(_Strict):
    """A recording played by URL, or key tones played to the line: ``{"play": URL, "loop": 2}``.

    ``digits`` plays DTMF tones (``w`` waits half a second), as TwiML's
    ``<Play digits>`` does.  The words of a recording are not known, so
    nothing checks its language.
    """

    play: AudioUrl | None = None
    digits: PlayDigits | None = None
    loop: Loop = 1

    @model_validator(mode="after")
    def _something(self) -> Audio:
        if (self.play is None) == (self.digits is None):
            raise ValueError('an audio part plays either a URL ("play") or key tones ("digits")')
        return self


def _part_kind(value: Any) -> str:
    # "say" would pass for a language tag, so the part's kind is told by its keys, not by trial.
    if isinstance(value, str):
        return "ref"
    if isinstance(value, (Speech, Audio, Text)):
        return {Speech: "speech", Audio: "audio", Text: "text"}[type(value)]
    if isinstance(value, dict):
        if "say" in value:
            return "speech"
        if "play" in value or "digits" in value:
            return "audio"
    return "text"


PromptPart: TypeAlias = Annotated[
    Annotated[PromptRef, Tag("ref")]
    | Annotated[Text, Tag("text")]
    | Annotated[Speech, Tag("speech")]
    | Annotated[Audio, Tag("audio")],
    Discriminator(_part_kind),
]


def part_text(part: PromptPart, prompts: dict[str, Text]) -> Text | None:
    """The words of a prompt part (a named prompt looked up), or None for audio and unknown names."""
    if isinstance(part, Speech):
        part = part.say
    if isinstance(part, str):
        return prompts.get(part[1:])
    return part if isinstance(part, Text) else None


def _as_list(value: Any) -> Any:
    # A single part is shorthand for a one-part list.
    if isinstance(value, (str, dict, Text, Speech, Audio)):
        return [value]
    return value


Prompt: TypeAlias = Annotated[
    Annotated[tuple[PromptPart, ...], Field(min_length=1, max_length=20)],
    # Editors see the shorthands too: one part on its own is a one-part prompt.
    BeforeValidator(
        _as_list,
        json_schema_input_type=PromptPart | Annotated[list[PromptPart], Field(min_length=1, max_length=20)],
    ),
]
"""A prompt: one part or a list of parts (:class:`Text`, :class:`PromptRef`, :class:`Speech`, :class:`Audio`)."""


class GlobalKey(_Strict):
    """What a global key does: repeat the prompt, go back, or go to a node."""

    action: Literal["repeat", "back", "goto"]
    target: NodeId | None = None

    @model_validator(mode="after")
    def _target_iff_goto(self) -> GlobalKey:
        if self.action == "goto" and self.target is None:
            raise ValueError('a "goto" global key needs a "target"')
        if self.action != "goto" and self.target is not None:
            raise ValueError(f'a "{self.action}" global key takes no "target"')
        return self


GlobalKeys: TypeAlias = dict[DtmfKey, GlobalKey | None]


class _Dialog(_Strict):
    """Dialog settings a node may set for itself; unset ones come from the defaults."""

    timeout: Seconds | None = None
    max_no_input: Attempts | None = None
    max_invalid: Attempts | None = None
    no_input_prompt: Prompt | None = None
    invalid_prompt: Prompt | None = None
    on_exhausted: NodeId | None = None
    on_no_input: NodeId | None = None
    """Where the first silence goes, at once, with no prompt said again (a node that ends the call, say)."""


class Defaults(_Strict):
    """Document-level defaults every node inherits."""

    timeout: Seconds = 5
    max_no_input: Attempts = 3
    max_invalid: Attempts = 3
    no_input_prompt: Prompt | None = None
    invalid_prompt: Prompt | None = None
    on_exhausted: NodeId
    on_error: NodeId | None = None
    on_no_input: NodeId | None = None
    global_keys: GlobalKeys = Field(default_factory=dict)
    max_node_repeats: Annotated[int, Field(ge=1, le=1000)] | None = None
    """A call that enters the same node more than this many times in a row ends (none: no limit)."""


TitleText = Annotated[XmlText, StringConstraints(min_length=1, max_length=200)]


class Title(RootModel[Annotated[dict[LanguageTag, TitleText], Field(min_length=1)]]):
    """A node's title in each language it is given in: ``{"zh-CN": "主菜单", "en-US": "Main menu"}``."""

    model_config = ConfigDict(frozen=True)


def _title_kind(value: Any) -> str:
    # One branch only, so a wrong title gets one message: a string is one text, anything else per language.
    return "text" if isinstance(value, str) else "per-language"


NodeTitle = Annotated[
    Annotated[Annotated[XmlText, StringConstraints(max_length=200)], Tag("text")]
    | Annotated[Title, Tag("per-language")],
    Discriminator(_title_kind),
]


class _NodeBase(_Strict):
    title: NodeTitle | None = None
    """What operators call the node (dashboards, diagrams): one text, or one per language."""

    def title_in(self, language: str | None, fallback: str | None = None) -> str | None:
        """The title in ``language``, else in ``fallback``, else in any language it has; None without one."""
        if not isinstance(self.title, Title):
            return self.title or None
        titles = self.title.root
        for lang in (language, fallback):
            if lang is not None and lang in titles:
                return titles[lang]
        return next(iter(titles.values()), None)


class MenuNode(_NodeBase, _Dialog):
    """Choose by key: a long prompt on the first visit, a short one after."""

    kind: Literal["menu"]
    prompt: Prompt
    short_prompt: Prompt | None = None
    options: dict[DtmfKey, NodeId] = Field(min_length=1)
    global_keys: GlobalKeys | None = None


class NewPasswordRule(_Strict):
    """Six digits that are not a trivial password nor the ID number's tail."""

    rule: Literal["new_password"]
    id_var: VarName | None = None


class DigitsRule(_Strict):
    rule: Literal["digits", "cn_ric", "keys"]


def _rule_shorthand(value: Any) -> Any:
    return {"rule": value} if isinstance(value, str) else value


Validation: TypeAlias = Annotated[
    DigitsRule | NewPasswordRule,
    BeforeValidator(
        _rule_shorthand, json_schema_input_type=Literal["digits", "cn_ric", "keys"] | DigitsRule | NewPasswordRule
    ),
    Field(discriminator="rule"),
]


class InputNode(_NodeBase, _Dialog):
    """Collect a string of digits into a variable."""

    kind: Literal["input"]
    var: VarName
    prompt: Prompt | None = None
    """What is said before the entry; none: the line waits in silence (a Studio gather with nothing to say)."""
    short_prompt: Prompt | None = None
    min_length: Annotated[int, Field(ge=1, le=64)] = 1
    max_length: Annotated[int, Field(ge=1, le=64)] = 20
    finish_key: Annotated[str, StringConstraints(pattern=r"^[0-9*#]?$")] = "#"
    validate_: Validation = Field(default=DigitsRule(rule="digits"), alias="validate")
    match: VarName | None = None
    on_mismatch: NodeId | None = None
    """Where a failed ``match`` goes (say, back to the first entry); default: ask this entry again."""
    masked: bool = False
    confirm: Prompt | None = None
    next: NodeId

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> InputNode:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} is more than max_length {self.max_length}")
        if self.masked and self.confirm is not None:
            raise ValueError('a masked entry is never read back: drop "confirm" or "masked"')
        rule = self.validate_.rule
        if rule == "cn_ric" and not (self.min_length <= 18 <= self.max_length):
            raise ValueError("a cn_ric entry is 18 keys long: min_length and max_length must allow 18")
        if rule == "new_password" and not (self.min_length <= 6 <= self.max_length):
            raise ValueError("a new_password entry is 6 digits: min_length and max_length must allow 6")
        return self


class MessageNode(_NodeBase):
    """Speak a prompt, then go on."""

    kind: Literal["message"]
    prompt: Prompt
    next: NodeId


class ServiceNode(_NodeBase):
    """Call a named service with the call's variables and branch on its outcome."""

    kind: Literal["service"]
    service: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")]
    prompt: Prompt | None = None
    args: dict[VarName, VarName] = Field(default_factory=dict)
    values: dict[VarName, Annotated[XmlText, StringConstraints(max_length=4000)]] = Field(default_factory=dict)
    """Parameters given as text, with the call's ``{variables}`` filled in (a URL, a request body)."""
    into: VarName | None = None
    """A namespace for the values the service returns: ``into.name`` instead of ``name``."""
    outcomes: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], NodeId] = Field(default_factory=dict)
    default: NodeId | None = None
    on_error: NodeId | None = None


class TransferNode(_NodeBase):
    """Connect the caller to an agent or another number."""

    kind: Literal["transfer"]
    to: Annotated[str, StringConstraints(pattern=r"^(\+?[0-9]{3,20}|[a-z][a-z0-9_]{0,63})$")]
    prompt: Prompt | None = None
    timeout: Annotated[int, Field(ge=5, le=600)] = 30
    outcomes: dict[Literal["completed", "busy", "no-answer", "failed", "canceled"], NodeId] = Field(
        default_factory=dict
    )


class VoicemailNode(_NodeBase):
    """Record a message from the caller."""

    kind: Literal["voicemail"]
    prompt: Prompt | None = None
    max_seconds: Annotated[int, Field(ge=1, le=3600)] = 120
    finish_key: Annotated[str, StringConstraints(pattern=r"^[0-9*#]{0,12}$")] = "#"
    """Keys that end the recording (any of them); ``""`` for none."""
    silence: Annotated[int, Field(ge=1, le=60)] = 5
    """Seconds of silence that end the recording."""
    beep: bool = True
    next: NodeId
    on_no_audio: NodeId | None = None
    """Where a recording with no audio goes; default: ``next``, as any other."""


Template = Annotated[XmlText, StringConstraints(max_length=4000)]
"""Text with the call's ``{variables}`` filled in, as in a prompt (``{{`` and ``}}`` are braces)."""


class SetNode(_NodeBase):
    """Give variables values (text with other variables in it), then go on."""

    kind: Literal["set"]
    vars: Annotated[dict[VarName, Template], Field(min_length=1)]
    next: NodeId


Number = Annotated[float, Field(allow_inf_nan=False)]


class Condition(_Strict):
    """Tests of one value, all of which must hold.

    Text tests compare exactly, case included; ``less_than`` and ``greater_than``
    compare numbers, and fail for a value that is not one; ``regex`` searches
    anywhere in the value (anchor it with ``^`` and ``$`` to match it whole), with RE2.
    """

    equal_to: Template | None = None
    not_equal_to: Template | None = None
    matches_any_of: Annotated[list[Template], Field(min_length=1)] | None = None
    does_not_match_any_of: Annotated[list[Template], Field(min_length=1)] | None = None
    is_blank: Literal[True] | None = None
    is_not_blank: Literal[True] | None = None
    starts_with: Template | None = None
    does_not_start_with: Template | None = None
    contains: Template | None = None
    does_not_contain: Template | None = None
    regex: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    less_than: Number | None = None
    greater_than: Number | None = None

    @model_validator(mode="after")
    def _some_test(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one test, such as equal_to or is_blank")
        if self.regex is not None:
            from ivr.menu.patterns import pattern_problem

            problem = pattern_problem(self.regex)
            if problem is not None:
                raise ValueError(problem)
        return self


class Case(_Strict):
    """One branch of a switch: where the call goes when the value passes ``if``."""

    if_: Condition = Field(alias="if")
    next: NodeId

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SwitchNode(_NodeBase):
    """Branch on a value: an entry, a variable, or text made of them; the first case that holds wins."""

    kind: Literal["switch"]
    value: Template
    cases: Annotated[list[Case], Field(min_length=1, max_length=200)]
    default: NodeId
    """Where the call goes when no case holds."""


class HangupNode(_NodeBase):
    """Say goodbye and end the call."""

    kind: Literal["hangup"]
    prompt: Prompt | None = None


class LanguageNode(_NodeBase, _Dialog):
    """Let the caller choose the language of every later prompt."""

    kind: Literal["language"]
    prompt: Prompt
    short_prompt: Prompt | None = None
    options: dict[DtmfKey, LanguageTag] = Field(min_length=1)
    next: NodeId
    global_keys: GlobalKeys | None = None


Node: TypeAlias = Annotated[
    MenuNode
    | InputNode
    | MessageNode
    | ServiceNode
    | TransferNode
    | VoicemailNode
    | HangupNode
    | LanguageNode
    | SetNode
    | SwitchNode,
    Field(discriminator="kind"),
]

NODE_KINDS = ("menu", "input", "message", "service", "transfer", "voicemail", "hangup", "language", "set", "switch")


class Menu(_Strict):
    """A whole hotline: its languages, defaults, named prompts and nodes."""

    schema_: str | None = Field(default=None, alias="$schema")
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
    version: Annotated[XmlText, StringConstraints(min_length=1, max_length=32)]  # stored with each call
    title: Text | None = None
    languages: Annotated[list[LanguageTag], Field(min_length=1, max_length=10)]
    default_language: LanguageTag
    start: NodeId
    defaults: Defaults
    prompts: dict[PromptName, Text] = Field(default_factory=dict)
    nodes: Annotated[dict[NodeId, Node], Field(min_length=1)]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def dialog(self, node: MenuNode | InputNode | LanguageNode) -> DialogSettings:
        """The dialog settings in force at ``node``: its own, else the defaults."""
        d = self.defaults
        return DialogSettings(
            timeout=node.timeout if node.timeout is not None else d.timeout,
            max_no_input=node.max_no_input if node.max_no_input is not None else d.max_no_input,
            max_invalid=node.max_invalid if node.max_invalid is not None else d.max_invalid,
            no_input_prompt=node.no_input_prompt if node.no_input_prompt is not None else d.no_input_prompt,
            invalid_prompt=node.invalid_prompt if node.invalid_prompt is not None else d.invalid_prompt,
            on_exhausted=node.on_exhausted or d.on_exhausted,
            on_no_input=node.on_no_input or d.on_no_input,
        )

    def node_title(self, node_id: str, language: str | None = None) -> str:
        """What to call node ``node_id``: its title in ``language`` (else the menu's), or its id when it has none."""
        node = self.nodes.get(node_id)
        title = node.title_in(language, self.default_language) if node is not None else None
        return title or node_id

    def global_keys(self, node: MenuNode | LanguageNode) -> dict[str, GlobalKey]:
        """The global keys that work at ``node``: defaults, merged with the node's own."""
        merged: dict[str, GlobalKey | None] = dict(self.defaults.global_keys)
        if node.global_keys:
            merged.update(node.global_keys)
        return {k: v for k, v in merged.items() if v is not None and k not in node.options}


class DialogSettings(BaseModel):
    """The resolved dialog settings of one node."""

    model_config = ConfigDict(frozen=True)
    timeout: float
    max_no_input: int
    max_invalid: int
    no_input_prompt: Prompt | None
    invalid_prompt: Prompt | None
    on_exhausted: str
    on_no_input: str | None = None


TEMPLATE_FIELD = re.compile(r"\{\{|\}\}|\{(" + VAR_NAME + r")(?::([a-z]+))?\}|[{}]")
"""Finds ``{name}`` and ``{name:how}`` in prompt texts; ``{{`` and ``}}`` are literal braces."""


def template_pieces(text: str) -> Iterator[tuple[str, str | None, str | None]]:
    """A template as (literal words, None, None) and ("", variable, how) pieces, in order.

    ``{{`` and ``}}`` come out as one literal brace, and so does a lone brace
    (which the checks refuse).  ``how`` is None when the variable names none.
    """
    pos = 0
    for m in TEMPLATE_FIELD.finditer(text):
        if m.start() > pos:
            yield text[pos : m.start()], None, None
        pos = m.end()
        if m.group(1) is None:
            yield m.group(0)[0], None, None
        else:
            yield "", m.group(1), m.group(2)
    if pos < len(text):
        yield text[pos:], None, None


SAY_AS = ("text", "digits", "number", "date")
"""How a prompt may say a variable: ``{name:how}``."""
FILL_AS = ("text", "url")
"""How a template that is not spoken (a set value, a switch, a service's values) may put a variable:
``{name:url}`` percent-encodes it, for a URL's query or a form body."""
