"""`Authorization: Bearer <key>` authentication with hashed API keys, and who a request acts as.

A verified key is kept for `API_KEY_CACHE_SECONDS` (default 5 s) by each process
(accounts.selectors.api_key_find): expiry is still checked on every request, a revocation
is effective at once in the process that revoked and within those seconds in every other
one. `last_used_at` is written at most once a minute per key (accounts.services.api_key_touch).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.selectors import api_key_find
from accounts.services import api_key_touch


class ApiKeyUser:
    """The principal of a request made with an API key: carries the key's role, and the id of the user it acts for.

    It is not a database user: writes record `request_actor(request)` (the key's user or None).
    `_crm_role` is what `accounts.roles.user_role` reads, so every role check treats keys and
    logged-in users alike.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey):
        self.api_key = key
        self._crm_role = key.role
        self.pk = self.id = key.user_id
        self.username = f"api-key:{key.prefix}"

    def __str__(self) -> str:
        return f"API key {self.api_key.name!r}"

    def get_username(self) -> str:
        return self.username


def request_actor(request: Any):
    """The database user responsible for a request (for logged_by / transition user), or None for a bare key."""
    user = getattr(request, "user", None)
    if isinstance(user, ApiKeyUser):
        return user.api_key.user
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user
    return None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer lcrm_…` against the stored SHA-256 digest of the key."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the API key as `Authorization: Bearer <key>`.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        key = api_key_find(raw_key=raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if key.user is not None and not key.user.is_active:
            raise exceptions.AuthenticationFailed("The user of this API key is inactive.")
        api_key_touch(key=key, now=now)
        return ApiKeyUser(key), key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_key` or Django admin: `Authorization: Bearer <key>`.",
        }
