"""Open connections end with their credential: logout, "end all sessions", ending a person's
sessions, a rotated token, and a revoked or expired API key close the streams they hold, not
only their next connect (issues 16 and 22).

The gateway checks a credential when a stream opens; an EventSource then stays open for
hours. So the sessions and keys behind open connections are re-checked in one or two Redis
round trips: every few seconds, and at once when an ``admin`` event says a key was revoked
or sessions were ended (the fan-out calls :meth:`CredentialWatch.nudge`), so a revocation
reaches open streams within a second. The connections of dead credentials are closed (the
browser's reconnect then gets 401 and the page shows its login).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from services.stream.clients import Client
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.sessions import Session, SessionStore

log = get_logger(__name__)

#: Close reason of a connection whose session ended.
SESSION_ENDED = "session"
#: Close reason of a connection whose API key was revoked or expired.
KEY_REVOKED = "revoked"
#: ``admin`` event actions after which the watch re-checks at once.
REVOKING_ACTIONS = frozenset({"revoke_key", "end_sessions"})


@dataclass(frozen=True, slots=True)
class Credential:
    """What keeps one connection open: a session, a named key, or both (a key's session)."""

    session: Session | None = None
    key_id: str = ""


class CredentialWatch:
    """The credentials behind open connections, and the task that re-checks them."""

    def __init__(self, store: SessionStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._watched: dict[Client, Credential] = {}
        self._nudged = asyncio.Event()

    def watch(self, client: Client, session: Session | None = None, key_id: str = "") -> None:
        if session is not None or key_id:
            self._watched[client] = Credential(session, key_id)

    def forget(self, client: Client) -> None:
        self._watched.pop(client, None)

    def nudge(self) -> None:
        """Re-check now (a key was revoked or sessions were ended somewhere)."""
        self._nudged.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), self.interval_s)
            self._nudged.clear()
            try:
                await self.check()
            except FacequeueError as exc:
                # Redis away: nothing can be checked, and nobody is closed for it.
                log.warning("credential check failed", error=str(exc))

    async def check(self) -> int:
        """Close every watched connection whose session or key is over; returns how many."""
        watched = dict(self._watched)
        if not watched:
            return 0
        sessions = {c.session.id: c.session for c in watched.values() if c.session is not None}
        key_ids = sorted({c.key_id for c in watched.values() if c.key_id})
        live_sessions = await self.store.still_live(list(sessions.values()))
        live_keys = await self.store.keys.still_live(key_ids)
        closed = 0
        for client, credential in watched.items():
            if credential.session is not None and credential.session.id not in live_sessions:
                reason = SESSION_ENDED
            elif credential.key_id and credential.key_id not in live_keys:
                reason = KEY_REVOKED
            else:
                continue
            self.forget(client)
            client.close(reason)
            closed += 1
        return closed
