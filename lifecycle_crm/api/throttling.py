"""Fixed-window request throttles per API key and per user, counted in the Django cache (Redis in production).

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on
each request; at 100 requests/s that list is thousands of floats pickled per request.
A fixed window needs one atomic `incr` per request and is shared by every gunicorn worker
through Redis. Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`: `key_read`,
`key_write`, `user_read`, `user_write` (e.g. "3000/min"); None disables one.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from lifecycle_crm.api.authentication import ApiKeyUser

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class PrincipalRateThrottle(BaseThrottle):
    """One counter per (API key or user, read/write) per window; anonymous requests are left to authentication."""

    def __init__(self):
        self._wait = 0.0

    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        if isinstance(user, ApiKeyUser):
            kind, ident = "key", user.api_key.pk
        else:
            kind, ident = "user", user.pk
        direction = "read" if request.method in SAFE_METHODS else "write"
        scope = f"{kind}_{direction}"
        parsed = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))
        if parsed is None:
            return True
        limit, period = parsed
        now = time.time()
        window = int(now // period)
        cache_key = f"throttle:{scope}:{ident}:{window}"
        # add() is a no-op when the key exists; incr() is atomic in Redis and in locmem.
        cache.add(cache_key, 0, timeout=period + 1)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=period + 1)
            count = 1
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float:
        return max(1.0, self._wait)
