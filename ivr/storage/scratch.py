"""Scratch PostgreSQL schemas: a fresh, empty schema for one test run, dropped after it."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from ivr.storage.db import StoreUnavailable

__all__ = ["ScratchSchema"]


class ScratchSchema:
    """A schema of its own on a PostgreSQL server, made by :meth:`create` and removed by :meth:`drop`."""

    def __init__(self, name: str, url: str, engine: Engine) -> None:
        self.name = name
        self.url = url
        """A URL whose connections use the schema: the app's migrations create their tables in it."""
        self._engine = engine

    @classmethod
    def create(cls, base_url: str, prefix: str = "ivr_scenario") -> ScratchSchema:
        """Create a uniquely named schema on the server at ``base_url``.

        Raises :class:`StoreUnavailable` (with the driver's message) when the
        server cannot be reached or refuses.
        """
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        engine: Engine | None = None
        try:
            engine = create_engine(base_url, poolclass=NullPool)
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{name}"'))
        except Exception as exc:  # any failure here means no schema: a bad URL, a missing driver, no server
            if engine is not None:
                engine.dispose()
            raise StoreUnavailable(str(exc)) from exc
        # The schema is the connection's search_path (?options=-csearch_path%3D...).
        sep = "&" if "?" in base_url else "?"
        return cls(name, f"{base_url}{sep}options=-csearch_path%3D{name}", engine)

    def drop(self) -> None:
        """Drop the schema and everything in it, and close the connections."""
        try:
            with self._engine.begin() as conn:
                # IF EXISTS: a fault test may have restarted the server, or a test dropped it already.
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        except Exception as exc:
            raise StoreUnavailable(str(exc)) from exc
        finally:
            self._engine.dispose()
