"""Webhook subscriptions of integrations and the log of every delivery to them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEvent(models.TextChoices):
    CONTACT_STAGE_CHANGED = "contact.stage_changed", "A contact changed stage"
    CONTACT_CREATED = "contact.created", "A contact was created"
    TOUCHPOINT_CREATED = "touchpoint.created", "Touchpoints were stored"
    LOYALTY_TIER_CHANGED = "loyalty.tier_changed", "A contact changed loyalty tier"
    LOYALTY_REWARD_REDEEMED = "loyalty.reward_redeemed", "A contact redeemed a reward"
    LOYALTY_REFERRAL_CONVERTED = "loyalty.referral_converted", "A referred friend made a first purchase"
    PING = "ping", "Test delivery"


SUBSCRIBABLE_EVENTS = [e for e in WebhookEvent.values if e != WebhookEvent.PING]


class WebhookSubscription(models.Model):
    """An endpoint that receives signed POSTs for the events it subscribed to.

    The secret signs every delivery (HMAC-SHA256); it is kept in clear because signing
    needs it, is shown to the API client once at creation and never listed again. After
    `WEBHOOKS_DISABLE_AFTER_FAILURES` failed deliveries in a row the subscription is
    disabled and `disabled_reason` says why; re-enabling resets the count.
    """

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event names, e.g. ["contact.stage_changed"].')
    secret = models.CharField(max_length=100, editable=False)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.IntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__startswith="http://") | Q(url__startswith="https://"), name="webhook_url_http"
            ),
            models.CheckConstraint(condition=Q(consecutive_failures__gte=0), name="webhook_failures_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


FINAL_STATUSES = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one subscription, with the outcome of every attempt.

    `event_id` is stable across retries so receivers can drop duplicates; `attempt_log`
    lists each try's time, HTTP status, response time and error.
    """

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.FloatField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempt_log = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # A subscription's delivery log, newest first (API and admin).
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_sub_idx"),
            # Operators looking for stuck or failed deliveries.
            models.Index(fields=["status", "created_at"], name="webhook_delivery_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
