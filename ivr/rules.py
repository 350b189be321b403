"""The 12333 line's rules, and how its secrets are masked, in one place.

Everything here is a plain function or constant, with no I/O and no clock:
the engine checks a caller's keys with it, the services and the store decide
with it, and every log and page masks with it.

- Resident ID numbers: 18 characters with a check digit (python-stdnum); a
  caller keys the final X as ``*``.
- Service passwords: 6 digits; a new one may not be trivial (``000000``,
  ``123456``) nor the last six characters of the holder's ID number.  Six
  wrong passwords in a row lock a card for self-service.
- Working days: China's public holidays and make-up working days (调休) come
  from the ``chinesecalendar`` package.  For a year it does not cover yet,
  Monday to Friday are taken as working days: an agent may then be offered on
  a holiday, which costs a caller a wasted ring, never a refused service.
- Masking: an ID number shows its first 3 and last 4 characters, a phone
  number all but its last 4 digits, a password nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeGuard

import chinese_calendar
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

__all__ = [
    "AGENT_HOURS",
    "LOSS_REPORT_WORKING_DAYS",
    "MAX_ATTEMPTS",
    "PASSWORD_LENGTH",
    "REPLACEMENT_WORKING_DAYS",
    "TRIVIAL_PASSWORDS",
    "add_working_days",
    "agents_on_duty",
    "is_new_password",
    "is_password",
    "is_working_day",
    "keyed_id_number",
    "local_date",
    "mask_id_number",
    "mask_keys",
    "mask_phone",
    "normalize_id_number",
]

# -- ID numbers --------------------------------------------------------------------


def _ascii_digits(text: str) -> bool:
    # str.isdigit() alone accepts other scripts' digits (and superscripts), which no keypad sends.
    return text.isascii() and text.isdigit()


def normalize_id_number(value: str | None, *, keyed: bool = False) -> str | None:
    """A resident ID number in its stored form (final X upper case), or None if it is not valid.

    With ``keyed`` the value is what a caller keyed on the phone: ASCII digits,
    the final one ``*`` for X, and nothing else.  Otherwise it is typed (by an
    operator, or passed on by the menu): spaces around it are dropped and a
    final ``x``, ``X`` or ``*`` is X.
    """
    if not value:
        return None
    if keyed:
        body, last = value[:-1], value[-1]
        if not (_ascii_digits(body) and (last == "*" or _ascii_digits(last))):
            return None
    else:
        value = value.strip().upper()
    if value.endswith("*"):
        value = value[:-1] + "X"
    try:
        return str(ric.validate(value))
    except StdnumError:
        return None


def keyed_id_number(id_number: str) -> str:
    """The ID number as a caller keys it: a final X is ``*``."""
    return id_number[:-1] + "*" if id_number.endswith("X") else id_number


# -- service passwords -----------------------------------------------------------

PASSWORD_LENGTH = 6
"""A service password has this many digits."""

TRIVIAL_PASSWORDS = frozenset({"000000", "123456"})
"""New passwords the line refuses, besides the last six characters of the ID number."""

MAX_ATTEMPTS = 6
"""Consecutive wrong passwords after which a card is locked for self-service, as on the real 12333 line."""


def is_password(value: str | None) -> TypeGuard[str]:
    """Whether ``value`` has the shape of a service password: 6 ASCII digits."""
    return value is not None and len(value) == PASSWORD_LENGTH and _ascii_digits(value)


def is_new_password(value: str | None, id_number: str | None) -> TypeGuard[str]:
    """Whether ``value`` may become a card's new password: 6 digits, not trivial, not the ID number's end.

    ``id_number`` is the holder's (None or empty when it is not known, and then
    only the trivial passwords are refused besides the shape).
    """
    if not is_password(value) or value in TRIVIAL_PASSWORDS:
        return False
    return not id_number or value != id_number[-PASSWORD_LENGTH:]


# -- working days and hours ---------------------------------------------------------

AGENT_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(11, 30)),
    (dt.time(13, 0), dt.time(17, 30)),
)
"""The agents' shifts on a working day, in the hotline's time zone (``IVR_TIMEZONE``)."""

LOSS_REPORT_WORKING_DAYS = 15
"""A temporary loss report holds this many working days after the day it was made."""

REPLACEMENT_WORKING_DAYS = 15
"""A replacement card is ready this many working days after the formal application."""


def _aware(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now


def local_date(now: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The calendar date in the hotline's ``zone`` at ``now`` (a naive ``now`` is taken as UTC)."""
    return _aware(now).astimezone(zone).date()


def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def agents_on_duty(now: dt.datetime, zone: dt.tzinfo) -> bool:
    """Whether agents answer at ``now`` in the hotline's ``zone`` (naive ``now`` is taken as UTC)."""
    local = _aware(now).astimezone(zone)
    if not is_working_day(local.date()):
        return False
    t = local.time()
    return any(start <= t < end for start, end in AGENT_HOURS)


# -- masking ------------------------------------------------------------------------


def mask_id_number(id_number: str | None) -> str:
    """An ID number as logs, pages and the audit trail may show it: the first 3 and last 4 characters.

    Anything shorter than 10 characters is starred out whole, since its ends
    would be most of it.
    """
    if not id_number:
        return ""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_phone(number: str) -> str:
    """A phone number as logs and pages may show it: the last four digits hidden.

    A number of 6 characters or fewer is starred out whole: hiding only its
    last four would leave too little hidden to matter (an extension, a short
    code).  Every place that shows a caller uses this, so no two of them
    together show more than one does.
    """
    if len(number) <= 6:
        return "*" * len(number)
    return number[:-4] + "****"


def mask_keys(digits: str, masked: bool) -> str:
    """What logs may show of a caller's keys: nothing of a password (``masked``), the ends of an ID number."""
    if masked:
        return "*" * len(digits)
    if len(digits) >= 10:
        return mask_id_number(digits)
    return digits
