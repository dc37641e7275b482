"""Open connections end with their session: logout, "end all sessions" and a rotated token
close the streams a session already holds, not only its next connect.

The gateway checks a cookie when a stream opens; an EventSource then stays open for
hours. So every few seconds the sessions behind open cookie-authenticated connections
are re-checked in one Redis round trip, and the connections of dead ones are closed
(the browser's reconnect then gets 401 and the page shows its login).
"""

from __future__ import annotations

import asyncio

from services.stream.clients import Client
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.sessions import Session, SessionStore

log = get_logger(__name__)

#: Close reason of a connection whose session ended.
SESSION_ENDED = "session"


class SessionWatch:
    """The sessions behind open connections, and the task that re-checks them."""

    def __init__(self, store: SessionStore, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self._watched: dict[Client, Session] = {}

    def watch(self, client: Client, session: Session) -> None:
        self._watched[client] = session

    def forget(self, client: Client) -> None:
        self._watched.pop(client, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except FacequeueError as exc:
                # Redis away: nothing can be checked, and nobody is closed for it.
                log.warning("session check failed", error=str(exc))

    async def check(self) -> int:
        """Close every watched connection whose session is over; returns how many."""
        watched = dict(self._watched)
        sessions = {session.id: session for session in watched.values()}
        live = await self.store.still_live(list(sessions.values()))
        closed = 0
        for client, session in watched.items():
            if session.id not in live:
                self.forget(client)
                client.close(SESSION_ENDED)
                closed += 1
        return closed
