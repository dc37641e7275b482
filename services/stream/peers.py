"""Who a connection comes from, and how many stream connections each address holds.

One hostile viewer opening thousands of connections (each with its socket
buffers, queue and replay) could take the gateway's memory alone; a cap per
client address bounds what one address can hold (issue 16).
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from shared.http import origin


def client_address(request: web.Request) -> str:
    """The client's address as trusted proxies vouch for it (``FQ_TRUSTED_PROXIES``).

    The same address the failure limiter, logs and audit use: behind a trusted
    proxy, each client has its own cap instead of sharing the proxy's.
    """
    return origin(request).address


class AddressCap:
    """Open stream connections per client address, refused past ``limit`` (0: no cap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        """Count one more connection from ``address``; False (nothing counted) when at the cap."""
        if self.limit and self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def open(self, address: str) -> int:
        """Connections ``address`` holds now."""
        return self._open[address]


class Admission:
    """One connection AddressCap counted for an address, given back exactly once.

    Released when its handler ends, unless the connection was handed over (``kept``):
    then when the connection itself ends (handover.py).
    """

    __slots__ = ("address", "cap", "held", "kept")

    def __init__(self, cap: AddressCap, address: str) -> None:
        self.cap = cap
        self.address = address
        self.held = True
        self.kept = False

    def release(self) -> None:
        if self.held:
            self.held = False
            self.cap.release(self.address)

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.kept:
            self.release()
