"""The process's decider: loaded once, refreshed in the background.

``Decider.load`` reads the live policy, its bandit state and the active score
snapshot; ``refresh`` re-reads them when a slot switch, a new bandit state or
a new snapshot is published. The app calls :meth:`DeciderHolder.refresh` from
a background task every ``refresh_seconds``, so a request never pays for it
and a publish or rollback reaches every worker within that interval. Until a
live policy exists the holder stays empty and ``/v1/offers`` answers 503.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from nbo_engine.api.logs import log
from nbo_engine.errors import NoActivePolicyError
from nbo_engine.store import Engine

if TYPE_CHECKING:
    from nbo_engine.decisioning import Decider

__all__ = ["DeciderHolder"]


class DeciderHolder:
    """Holds the current :class:`~nbo_engine.decisioning.Decider` (or none)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._decider: Decider | None = None

    @property
    def loaded(self) -> bool:
        return self._decider is not None

    def current(self) -> Decider:
        """The decider, loading it if none is loaded yet.

        Raises
        ------
        NoActivePolicyError
            No policy is live.
        """
        decider = self._decider
        if decider is not None:
            return decider
        with self._lock:
            if self._decider is None:
                from nbo_engine.decisioning import Decider

                self._decider = Decider.load(self._engine)
            return self._decider

    def refresh(self) -> None:
        """Load or refresh; forget the decider if the live slot was emptied."""
        try:
            if self._decider is None:
                self.current()
            elif self._decider.refresh():
                log.info("decider refreshed")
        except NoActivePolicyError:
            with self._lock:
                self._decider = None
