"""Fixed-window request throttles per API key and per user, counted in the Django cache (Redis in production).

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on
each request; at 100 requests/s that list is thousands of floats pickled per request.
A fixed window needs one counter per client and window, shared by every gunicorn worker
through Redis. On Django's RedisCache the counter costs one round trip
(`MULTI; INCR key; EXPIRE key; EXEC`, on a client kept per cache connection); Django's
own `add` + `incr` took three (SET NX, EXISTS, INCR), each building a new Redis client.
Other cache backends (locmem in development and tests) use `add` + `incr`.

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`: `key_read`, `key_write`,
`user_read`, `user_write` (e.g. "3000/min", parsed by DRF); None disables one. Over the
limit DRF answers 429 with `Retry-After`: the seconds to the end of the window (at least 1).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.api.authentication import ApiKeyUser

# One Redis client per cache backend instance (Django keeps one per thread); a client is thread-safe anyway.
_redis_clients: weakref.WeakKeyDictionary[RedisCache, Any] = weakref.WeakKeyDictionary()


def _redis_client(backend: Any) -> Any | None:
    if not isinstance(backend, RedisCache):
        return None
    client = _redis_clients.get(backend)
    if client is None:
        client = _redis_clients[backend] = backend._cache.get_client(write=True)
    return client


def window_count(key: str, *, ttl: int) -> int:
    """Add one hit to the counter `key` (created with a lifetime of `ttl` seconds) and return the new count."""
    backend = caches["default"]
    client = _redis_client(backend)
    if client is not None:
        full_key = backend.make_and_validate_key(key)
        pipe = client.pipeline(transaction=True)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl)
        count, _ = pipe.execute()
        return int(count)
    # add() is a no-op when the key exists; incr() is atomic in Redis and in locmem.
    cache.add(key, 0, timeout=ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


class PrincipalRateThrottle(SimpleRateThrottle):
    """One counter per (API key or user, read/write) per window; anonymous requests are left to authentication.

    A SimpleRateThrottle for its rate parsing and DRF's 429 handling, with the scope picked
    per request (`key_read`, `key_write`, `user_read`, `user_write`) and a fixed-window
    counter instead of the pickled history list.
    """

    def __init__(self):  # the scope, and so the rate, depends on the request: see allow_request
        self._wait = 0.0

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if isinstance(user, ApiKeyUser):
            kind, ident = "key", user.api_key.pk
        else:
            kind, ident = "user", user.pk
        self.scope = f"{kind}_{'read' if request.method in SAFE_METHODS else 'write'}"
        return f"throttle:{self.scope}:{ident}"

    def allow_request(self, request, view) -> bool:
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        # Read per request (not at import like SimpleRateThrottle.THROTTLE_RATES), so changed settings apply.
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        now = time.time()
        window = int(now // self.duration)
        if window_count(f"{key}:{window}", ttl=self.duration + 1) > self.num_requests:
            self._wait = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float:
        return max(1.0, self._wait)
