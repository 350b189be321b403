"""Which menu a call hears: the current publication for a new call, the one it started on for the rest.

With nothing published, the service serves the menu file (``IVR_MENU``), as
it always did.  Once ``ivr menu publish`` has stored a version, new calls get
the newest publication, and every call keeps the one it started on to its
end, whichever worker or host serves its steps.

A worker learns the newest publication's number from the statement that
loads the call (:meth:`ivr.storage.calls.CallStore.lookup`), so picking a new
version up costs no statement of its own and needs no thread: it works the
same under gunicorn's ``--preload``, on any number of hosts.  A publication's
text is read and checked once per worker, the first time a call needs it,
and kept (a bounded number of them, the current one always).

``ivr serve --reload`` watches the menu file instead, while nothing is
published: a changed file is served to new calls; a broken one is refused
with its located problems, and the last good menu goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.engine import Engine
from ivr.errors import MenuError, StaleStateError
from ivr.menu.loader import load_menu, parse_menu
from ivr.menu.model import Menu
from ivr.session import CallSession
from ivr.storage.db import StoreUnavailable
from ivr.storage.menus import PublishedMenus

__all__ = ["KEPT_PUBLICATIONS", "MenuCatalog", "ServedMenu"]

log = logging.getLogger("ivr.menus")

KEPT_PUBLICATIONS = 16
"""Publications a worker keeps ready besides the current one; an older one a call still needs is read again."""
RELOAD_CHECK_SECONDS = 1.0
"""How often ``ivr serve --reload`` looks at the menu file's modification time."""


@dataclass(frozen=True, eq=False)
class ServedMenu:
    """A menu ready to serve: the publication's number (None for the menu file), the menu, and its call session."""

    publication: int | None
    menu: Menu
    session: CallSession
    """Drives the calls on this menu (its engine, with the app's services); holds no call's state."""

    @property
    def engine(self) -> Engine:
        """The menu's engine."""
        return self.session.engine

    @property
    def label(self) -> str:
        """How pages name it: ``#3 (1.0.1)``, or the menu file's own version."""
        own = self.menu.version
        return f"#{self.publication} ({own})" if self.publication is not None else own


class MenuCatalog:
    """The menus a worker serves, by publication number; safe to share between threads."""

    def __init__(
        self,
        menu_file: Path,
        published: PublishedMenus,
        sessions: Callable[[Engine], CallSession],
        *,
        watch_file: bool = False,
    ) -> None:
        """Load ``menu_file``; publications are read as calls need them.

        A menu file that cannot be loaded raises :class:`MenuError`, unless a
        version is published: then the file is not needed, and is left out.
        ``sessions`` makes the call session of a menu's engine (with the app's services and dialer).
        ``watch_file``: serve the file's new content when it changes (``ivr serve --reload``).
        """
        self.menu_file = menu_file
        self.published = published
        self.sessions = sessions
        self.watch_file = watch_file
        self.on_load: Callable[[ServedMenu], None] | None = None
        """Told of each menu made ready after this one (metrics learn its node names)."""
        self._lock = threading.Lock()
        self._file: ServedMenu | None = None
        self._file_mtime = _mtime(menu_file)
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
        self._kept: dict[int, ServedMenu] = {}
        self._refused: set[int] = set()
        try:
            self._file = self._ready(None, load_menu(menu_file))
        except MenuError as exc:
            latest = self._latest_or_none()
            if latest is None:
                raise
            log.warning("the menu file is not served (%s); new calls get the published versions", exc)
            self._publication(latest)  # so a menu is at hand even while the store is down

    # -- what the webhook asks ------------------------------------------------------

    def serve(self, current: int | None) -> ServedMenu:
        """The menu for a new call, given the newest publication's number the store reported (None: none)."""
        if current is None:
            return self._file_menu()
        if current not in self._refused:
            try:
                return self._publication(current)
            except StaleStateError:
                pass  # logged when refused; the last good one goes on
        return self.offline()

    def keep(self, publication: int | None) -> ServedMenu:
        """The menu a call in progress started on; :class:`StaleStateError` when it cannot be served any more."""
        if publication is None:
            return self._file_menu()
        return self._publication(publication)

    def latest(self) -> ServedMenu:
        """The menu new calls get now, asking the store (pages and start-up; never the webhook's steps)."""
        return self.serve(self.published.latest_number())

    def offline(self) -> ServedMenu:
        """The best menu without asking the store (it is down): the newest publication at hand, else the file."""
        good = [n for n in self._kept if n not in self._refused]
        if good:
            return self._kept[max(good)]
        return self._file_menu()

    def _latest_or_none(self) -> int | None:
        try:
            return self.published.latest_number()
        except StoreUnavailable:
            return None  # the store cannot tell: the file is needed after all

    # -- plumbing ---------------------------------------------------------------------

    def _ready(self, publication: int | None, menu: Menu) -> ServedMenu:
        served = ServedMenu(publication, menu, self.sessions(Engine(menu)))
        if self.on_load is not None:
            self.on_load(served)
        return served

    def _publication(self, number: int) -> ServedMenu:
        served = self._kept.get(number)
        if served is not None:
            return served
        with self._lock:
            served = self._kept.get(number)
            if served is None:
                served = self._read(number)
                self._kept[number] = served
                self._trim()
        return served

    def _read(self, number: int) -> ServedMenu:
        """Publication ``number`` from the store, checked (StoreUnavailable propagates: the caller hears an apology)."""
        if number in self._refused:
            raise StaleStateError(f"menu publication #{number} cannot be served")
        record = self.published.get(number)
        if record is None:
            self._refused.add(number)
            log.error("menu publication #%d is not in the store", number)
            raise StaleStateError(f"menu publication #{number} is not in the store")
        try:
            menu = parse_menu(record.content, f"publication #{number}")
        except MenuError as exc:
            # Checked when it was published; a later version of the service may check more.
            self._refused.add(number)
            log.error("menu publication #%d no longer loads: %s", number, exc)
            raise StaleStateError(f"menu publication #{number} no longer loads") from None
        log.info("serving menu publication #%d (%s %s)", number, menu.id, menu.version)
        return self._ready(number, menu)

    def _trim(self) -> None:
        # The one read longest ago goes first (a call on an old version keeps it for a while);
        # the newest, which new calls get, always stays.
        while len(self._kept) > KEPT_PUBLICATIONS:
            newest = max(self._kept)
            del self._kept[next(n for n in self._kept if n != newest)]

    def _file_menu(self) -> ServedMenu:
        if self.watch_file and time.monotonic() >= self._next_check:
            self._reload_file()
        if self._file is None:
            raise StaleStateError(f"the menu file {self.menu_file} could not be loaded, and no version is published")
        return self._file

    def _reload_file(self) -> None:
        with self._lock:
            self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
            mtime = _mtime(self.menu_file)
            if mtime == self._file_mtime:
                return
            self._file_mtime = mtime
            try:
                menu = load_menu(self.menu_file)
            except MenuError as exc:
                log.error("the changed menu file is refused; the last good one goes on: %s", exc)
                return
            self._file = self._ready(None, menu)
            log.info("menu file changed: new calls get %s %s", menu.id, menu.version)


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
