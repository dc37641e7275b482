"""Reaping after a Redis outage: beats missed while Redis was away prove nothing.

When Redis restarts (or fails over), every worker's last beat is as old as the
outage; the first reaper to reconnect would declare them all dead and run their
jobs a second time. So a reaper that has seen Redis away waits one dead-interval
of healthy Redis (long enough for every live worker to beat again) before reaping.

"Seen away" is either a call that failed or a long gap between two answers: the
Redis client retries through an outage of up to ``FQ_REDIS_RETRIES`` (issue 17),
so a reaper's call may block through the whole outage and then succeed without
ever raising.
"""

from __future__ import annotations

import math
import time


class ReapGrace:
    #: Fraction of the dead-interval two answers may lie apart before the gap counts as an outage:
    #: a live worker beating every ``heartbeat_interval_s`` (< dead-interval) would have missed beats.
    GAP_FRACTION = 0.5

    def __init__(self, dead_s: float) -> None:
        self.dead_s = dead_s
        #: Monotonic time since which Redis has answered; -inf: never failed; None: failing now.
        self._healthy_since: float | None = -math.inf
        #: Monotonic time of the last answer; None: none yet.
        self._last_answer: float | None = None

    def failed(self) -> None:
        self._healthy_since = None

    def answered(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        gap = self._last_answer is not None and now - self._last_answer > self.dead_s * self.GAP_FRACTION
        if self._healthy_since is None or gap:
            self._healthy_since = now
        self._last_answer = now

    def may_reap(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self._healthy_since is not None and now - self._healthy_since >= self.dead_s
