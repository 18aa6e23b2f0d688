"""Reads for accounts: the stored API key behind a raw key, with a short per-process cache.

Every API request authenticates its key. Looking it up through the ORM (query building,
the round trip, the model instance) was ~17% of a single touchpoint POST's CPU, so each
process keeps a key it has verified for `API_KEY_CACHE_SECONDS` (default 5 s, 0: off),
keyed by the SHA-256 digest of the raw key. Only keys that matched a stored row are kept.

What this means for changes to a key (and to its user):
- expiry is checked on every request against the stored `expires_at`: exact;
- revocation through `api_key_revoke` (admin action, service) drops the key from the
  revoking process's cache at once; other processes refuse the key within
  `API_KEY_CACHE_SECONDS` (they read the row again when their entry ages out);
- any other change (role, user, deactivating the key's user, an `expires_at` edited in
  the database) also takes effect within `API_KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import time

from django.conf import settings

from accounts.models import API_KEY_PREFIX_LENGTH, ApiKey, api_key_digest

KEY_TAG = "lcrm_"
DEFAULT_KEY_CACHE_SECONDS = 5.0
_KEY_CACHE_MAX = 1024  # verified keys only, so a handful in practice; a bound all the same

_clock = time.monotonic  # tests move this clock to age entries out
_cache: dict[str, tuple[float, ApiKey]] = {}  # digest of the raw key → (when read, key with its user)


def api_key_cache_seconds() -> float:
    """How long a process may answer from a key it read (the bound on revocation in other processes)."""
    return float(getattr(settings, "API_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS))


def api_key_parse_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a raw key, or None when it is not shaped like one of ours."""
    if not raw_key.startswith(KEY_TAG) or len(raw_key) < len(KEY_TAG) + API_KEY_PREFIX_LENGTH + 16:
        return None
    return raw_key[len(KEY_TAG) : len(KEY_TAG) + API_KEY_PREFIX_LENGTH]


def api_key_find(*, raw_key: str) -> ApiKey | None:
    """The stored key (with `user` loaded) whose digest matches `raw_key`, or None; status checks are the caller's.

    Answers from this process's cache while the entry is younger than
    `API_KEY_CACHE_SECONDS`; otherwise one query by the indexed prefix. The returned
    instance may be shared by concurrent requests of this process: treat it as read-only
    (except `last_used_at`, see accounts.services.api_key_touch).
    """
    prefix = api_key_parse_prefix(raw_key)
    if prefix is None:
        return None
    digest = api_key_digest(raw_key)
    ttl = api_key_cache_seconds()
    now = _clock()
    hit = _cache.get(digest)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).order_by().first()
    if key is None or not key.matches(raw_key):
        _cache.pop(digest, None)
        return None
    if ttl > 0:
        if len(_cache) >= _KEY_CACHE_MAX:
            _cache.clear()
        _cache[digest] = (now, key)
    return key


def api_key_forget(*, key_id: int) -> None:
    """Drop a key from this process's cache (after revoking it here: refused from the next request on)."""
    for digest, (_, cached) in list(_cache.items()):
        if cached.pk == key_id:
            _cache.pop(digest, None)


def api_key_cache_clear() -> None:
    """Empty this process's key cache (tests)."""
    _cache.clear()
