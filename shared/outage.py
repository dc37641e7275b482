"""Reaping after a Redis outage: beats missed while Redis was away prove nothing.

When Redis restarts, every worker's last beat is as old as the outage; the first
reaper to reconnect would declare them all dead and run their jobs a second
time. So a reaper that has seen Redis fail waits one dead-interval of healthy
Redis (long enough for every live worker to beat again) before reaping.
"""

from __future__ import annotations

import math
import time


class ReapGrace:
    def __init__(self, dead_s: float) -> None:
        self.dead_s = dead_s
        #: Monotonic time since which Redis has answered; -inf: never failed; None: failing now.
        self._healthy_since: float | None = -math.inf

    def failed(self) -> None:
        self._healthy_since = None

    def answered(self) -> None:
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()

    def may_reap(self) -> bool:
        return self._healthy_since is not None and time.monotonic() - self._healthy_since >= self.dead_s
