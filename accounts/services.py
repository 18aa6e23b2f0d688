"""Writes for accounts: creating and revoking API keys."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import API_KEY_PREFIX_LENGTH, ApiKey, api_key_digest
from accounts.roles import Role

KEY_TAG = "lcrm_"


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
    """Revoke a key now; requests with it fail from the next request on. Revoking twice keeps the first time."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key


def api_key_parse_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a raw key, or None when it is not shaped like one of ours."""
    if not raw_key.startswith(KEY_TAG) or len(raw_key) < len(KEY_TAG) + API_KEY_PREFIX_LENGTH + 16:
        return None
    return raw_key[len(KEY_TAG) : len(KEY_TAG) + API_KEY_PREFIX_LENGTH]
