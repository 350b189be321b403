"""The sans-I/O call-flow engine: events in, actions out.

Nothing in this package does I/O, reads a clock, or imports Flask, Twilio, a
database or a speech engine.  See :class:`Engine`.
"""

from ivr.engine.actions import (
    Action,
    Gather,
    Hangup,
    Invoke,
    Part,
    Play,
    Prompted,
    Record,
    Say,
    SayAs,
    Transfer,
    Waiting,
    Words,
)
from ivr.engine.core import Engine, Step
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
from ivr.engine.state import ACCEPTS, Awaiting, CallState

__all__ = [
    "ACCEPTS",
    "Action",
    "Awaiting",
    "CallStarted",
    "CallState",
    "Digits",
    "Engine",
    "Event",
    "Gather",
    "Hangup",
    "HungUp",
    "Invoke",
    "NoInput",
    "Part",
    "Play",
    "Prompted",
    "Record",
    "RecordingDone",
    "Say",
    "SayAs",
    "ServiceDone",
    "ServiceFailed",
    "Step",
    "Transfer",
    "TransferDone",
    "Waiting",
    "Words",
]
