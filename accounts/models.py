"""Accounts: roles are Django groups (see accounts.roles); API keys live here too."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.roles import Role

API_KEY_PREFIX_LENGTH = 12


def api_key_digest(raw_key: str) -> str:
    """SHA-256 of a raw key. Keys are 256-bit random tokens, so a fast hash is enough (no dictionary to guess)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A secret that authenticates an integration or script as `Authorization: Bearer <key>`.

    Only `prefix` (the first characters, used to find the row) is kept in clear; the key
    itself is stored as its SHA-256 digest and shown once, when created. The key carries
    its own role. A sales-rep key acts for `user` (whose contacts it may write), so a
    sales-rep key must name one.
    """

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="The user this key acts for (required for sales-rep keys; their contacts are the ones it writes).",
    )
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(role="sales_rep") | Q(user__isnull=False), name="api_key_rep_has_user"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="api_key_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"

    def matches(self, raw_key: str) -> bool:
        return hmac.compare_digest(self.hashed_key, api_key_digest(raw_key))

    def is_usable(self, *, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
