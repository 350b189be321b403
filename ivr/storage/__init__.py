"""Persistence, and the only place with SQL: models, the database handle, the call store,
the card transactions, the dashboard's reports and scratch schemas for tests.

It imports nothing from ivr but :mod:`ivr.config`, :mod:`ivr.errors` and :mod:`ivr.rules`.
"""

from ivr.storage.db import Database, StoreUnavailable

__all__ = ["Database", "StoreUnavailable"]
