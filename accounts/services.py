"""Writes for accounts: creating and revoking API keys, and stamping their last use."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import API_KEY_PREFIX_LENGTH, ApiKey, api_key_digest
from accounts.roles import Role
from accounts.selectors import KEY_TAG, api_key_forget

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # last_used_at is written at most once a minute per key


@transaction.atomic
def api_key_create(
    *, name: str, role: str, user: Any = None, created_by: Any = None, expires_at=None
) -> tuple[ApiKey, str]:
    """Create an API key and return it with the raw key, which is never stored and cannot be shown again.

    The raw key is `lcrm_` + 12 lookup characters + 43 secret characters (256 random bits).
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A key needs a name."})
    if len(name) > 100:
        raise ValidationError({"name": "At most 100 characters."})
    if role not in Role.values:
        raise ValidationError({"role": f"{role!r} is not a role; choose one of {', '.join(Role.values)}."})
    if role == Role.SALES_REP and user is None:
        raise ValidationError({"user": "A sales-rep key acts for a sales rep: name the user."})
    if user is not None and not isinstance(user, get_user_model()):
        raise ValidationError({"user": "Unknown user."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    for _ in range(5):
        prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    raw_key = f"{KEY_TAG}{prefix}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        role=role,
        user=user,
        prefix=prefix,
        hashed_key=api_key_digest(raw_key),
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        expires_at=expires_at,
    )
    return key, raw_key


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key now. This process refuses it from the next request on; every other process within
    `API_KEY_CACHE_SECONDS` (accounts.selectors). Revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    transaction.on_commit(lambda: api_key_forget(key_id=key.pk))
    api_key_forget(key_id=key.pk)
    key.refresh_from_db(fields=["revoked_at"])
    return key


def api_key_touch(*, key: ApiKey, now: dt.datetime | None = None) -> bool:
    """Stamp `last_used_at`, at most once a minute per key (not per request); True when this call wrote it.

    The UPDATE is conditional on the stored time being a minute old, so several processes
    sharing a key still write it once a minute between them. `key` may be the instance a
    process caches (accounts.selectors); its `last_used_at` is moved on here so this process
    does not ask again for a minute.
    """
    now = now or timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return False
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    written = ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
    return bool(written)
