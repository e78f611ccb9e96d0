"""Sliding window counters kept in this process, for the hub's allowances when no Redis is
configured.

The algorithm is ``limits``' sliding window counter (a fixed window's count plus the previous
window's, weighted by how much of it the sliding window still covers), which ``limits`` also
runs in Redis for several processes. Its in-memory storage is built for that async interface:
each hit awaited four coroutines and a lock, about 7 % of a worker's CPU on a keyed lookup.
Here a hit is one dictionary lookup and a little arithmetic, synchronous.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem

#: Counters kept before stale ones (windows that can no longer count) are dropped.
_PRUNE_ABOVE = 50_000


class LocalWindowCounters:
    def __init__(self) -> None:
        # (amount, period, scope, who) -> [window start, count in it, count in the one before]
        self._windows: dict[tuple[int, int, str, str], list[float]] = {}
        self._prune_at = _PRUNE_ABOVE

    def hit(self, item: RateLimitItem, scope: str, who: str, now: float | None = None) -> float:
        """Spend one hit: 0.0 when admitted, else the seconds until one could be."""
        period = item.get_expiry()
        amount = item.amount
        now = time.time() if now is None else now
        start = now - now % period
        key = (amount, period, scope, who)
        window = self._windows.get(key)
        if window is None or window[0] < start - period:
            current, previous = 0.0, 0.0
        elif window[0] < start:  # the window turned: its count is now the previous one
            current, previous = 0.0, window[1]
        else:
            current, previous = window[1], window[2]
        weighted = previous * (period - (now - start)) / period + current
        if math.floor(weighted) + 1 > amount:
            return _wait(amount, period, start, current, previous, now)
        self._windows[key] = [start, current + 1, previous]
        if len(self._windows) > self._prune_at:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Drop windows older than their own period's previous window: they count for
        nothing. Bounded work: only when the table has doubled since the last time."""
        self._windows = {
            key: window
            for key, window in self._windows.items()
            if window[0] >= now - now % key[1] - key[1]
        }
        self._prune_at = max(_PRUNE_ABOVE, 2 * len(self._windows))


def _wait(
    amount: int, period: float, start: float, current: float, previous: float, now: float
) -> float:
    """Seconds until the weighted count leaves room for one hit (no other hit meanwhile),
    at most one period. A hit passes while the weighted count is below ``amount``."""
    if current < amount and previous > 0:  # within this window, as the previous one fades
        at = start + period * (1 - (amount - current) / previous)
    else:  # in the next window, as this one fades
        at = start + period + period * max(0.0, 1 - amount / max(current, 1.0))
    return min(float(period), max(at - now, 0.001))


__all__ = ["LocalWindowCounters"]
