"""Persistence: SQLAlchemy models, the database handle, and the call store."""

from ivr.storage.db import Database, StoreUnavailable

__all__ = ["Database", "StoreUnavailable"]
