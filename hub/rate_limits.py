"""Request allowances: per client, per agency, per address for anonymous callers, and on the
token endpoint (per address and per client id, checked before the secret is hashed).

Counters live in the process (``hub.rate_counter``) or, with ``HUB_REDIS_URL``, in Redis
through ``limits`` so that every hub process and host spends one budget. Both run ``limits``'
sliding window counter, which gives what a token bucket would: ``200/2 seconds`` lets a burst
of 200 through and then about 100/s. (Its moving window was measured first: in memory it
expires entries through a thread hop per key on every request, which cost the keyed lookup
about 15 % of its throughput; the counter keeps two numbers per key and window.)
When Redis cannot be reached the hub serves on and says so in its log: a counter outage must
not take the province's data exchange down with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from catalog.errors import RateLimited
from catalog.principal import Principal
from hub.rate_counter import LocalWindowCounters
from hub.settings import Settings

log = logging.getLogger(__name__)

#: Settings that switch a limit off.
OFF = frozenset({"", "off", "none", "unlimited"})
# One warning per this many seconds while the counter store is unreachable.
_WARN_EVERY = 60.0


def parse_allowance(text: str) -> tuple[RateLimitItem, ...]:
    """``"200/2 seconds; 1000/minute"`` → limit items; ``off`` → none."""
    if text.strip().lower() in OFF:
        return ()
    try:
        return tuple(parse_many(text))
    except ValueError:
        raise ValueError(
            f"{text[:100]!r} is not a rate such as '200/2 seconds' or "
            "'100/second; 5000/hour' (or 'off')"
        ) from None


def redis_storage_url(url: str) -> str:
    """``redis://`` / ``rediss://`` → the async storage URL of ``limits``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "redis+unix"):
        # The URL may carry a password: never echo it.
        raise ValueError("expected redis://host:port/db, rediss://… or redis+unix://…")
    return f"async+{scheme}://{rest}"


@dataclass(frozen=True)
class Allowances:
    client: tuple[RateLimitItem, ...]
    agency: tuple[RateLimitItem, ...]
    anonymous: tuple[RateLimitItem, ...]
    token: tuple[RateLimitItem, ...]


class RateLimiter:
    """Spends and checks the allowances; ``admit_*`` raise ``RateLimited`` with the seconds
    after which a retry can succeed."""

    def __init__(self, allowances: Allowances, storage: Storage | None = None) -> None:
        """``storage``: ``limits``' shared (Redis) storage; None counts in this process."""
        self.allowances = allowances
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage) if storage else None
        self._local = LocalWindowCounters() if storage is None else None
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        allowances = Allowances(
            client=parse_allowance(settings.rate_limit_client),
            agency=parse_allowance(settings.rate_limit_agency),
            anonymous=parse_allowance(settings.rate_limit_anonymous),
            token=parse_allowance(settings.rate_limit_token),
        )
        if settings.redis_url is None:
            return cls(allowances)
        storage = storage_from_string(redis_storage_url(settings.redis_url.get_secret_value()))
        assert isinstance(storage, Storage)  # an "async+" URL gives async storage
        return cls(allowances, storage)

    async def admit_request(self, principal: Principal, address: str | None) -> None:
        """A GraphQL or ingest request: its client and agency, or its address if anonymous."""
        if principal.is_anonymous:
            await self._spend(self.allowances.anonymous, "anon", address or "unknown")
            return
        await self._spend(self.allowances.client, "client", principal.client_id or "?")
        if principal.agency:
            await self._spend(self.allowances.agency, "agency", principal.agency)

    async def admit_token_request(self, client_id: str | None, address: str | None) -> None:
        """A token request, before its secret is checked: by address and by client id, so
        neither one address nor many addresses can hammer one client's secret."""
        await self._spend(self.allowances.token, "token-addr", address or "unknown")
        if client_id:
            await self._spend(self.allowances.token, "token-client", client_id[:128])

    async def _spend(self, items: Sequence[RateLimitItem], scope: str, who: str) -> None:
        if self._local is not None:
            for item in items:
                wait = self._local.hit(item, scope, who)
                if wait:
                    raise _refusal(item, scope, max(1, math.ceil(wait)))
            return
        assert self._limiter is not None
        for item in items:
            try:
                allowed = await self._limiter.hit(item, scope, who)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, scope, who)
            except Exception as exc:  # the counter store is down: serve, and say so
                self._warn(exc)
                return
            raise _refusal(item, scope, max(1, math.ceil(stats.reset_time - time.time())))

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate limit counters unreachable, serving without them: %s", exc)


def _refusal(item: RateLimitItem, scope: str, retry_after: int) -> RateLimited:
    return RateLimited(
        f"too many requests for this {_WHO[scope]} (allowance {item}); retry after {retry_after} s",
        retry_after,
    )


_WHO = {
    "anon": "address",
    "client": "client",
    "agency": "agency",
    "token-addr": "address",
    "token-client": "client",
}

__all__ = ["OFF", "Allowances", "RateLimiter", "parse_allowance", "redis_storage_url"]
