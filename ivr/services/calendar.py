"""Chinese working days and the agents' hours, from a maintained calendar.

Public holidays and make-up working days (调休) come from the
``chinesecalendar`` package.  For a year it does not cover yet, Monday to
Friday are taken as working days: an agent may then be offered on a holiday,
which costs a caller a wasted ring, never a refused service.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["AGENT_HOURS", "BEIJING", "add_working_days", "agents_on_duty", "is_working_day"]

BEIJING = ZoneInfo("Asia/Shanghai")

AGENT_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(11, 30)),
    (dt.time(13, 0), dt.time(17, 30)),
)
"""The agents' shifts on a working day, Beijing time."""


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


def agents_on_duty(now: dt.datetime) -> bool:
    """Whether agents answer at ``now`` (an aware datetime; naive ones are taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    local = now.astimezone(BEIJING)
    if not is_working_day(local.date()):
        return False
    t = local.time()
    return any(start <= t < end for start, end in AGENT_HOURS)
