"""Delivering one webhook: the signed HTTP POST to the checked address, retries and failure counting.

The connection goes to the very address that was checked (no second DNS lookup an attacker
could change in between).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from webhooks.models import (
    FINAL_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from webhooks.targets import TargetRefused, _setting, webhook_signature, webhook_target_resolve

# Subscriptions' events, cached by webhooks.services; a subscription disabled here forgets it too.
ACTIVE_EVENTS_CACHE_KEY = "webhooks:active-events"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


USER_AGENT = "LifecycleCRM-Webhooks/1.0"


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one HTTP attempt."""

    ok: bool
    status: int | None
    ms: float | None
    error: str
    excerpt: str
    retryable: bool


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, while sending the real Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
    try:
        scheme, host, port, address = webhook_target_resolve(url)
    except TargetRefused as exc:
        return AttemptResult(False, None, None, f"Refused: {exc}", "", retryable=False)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = float(_setting("WEBHOOKS_TIMEOUT_SECONDS", 10))
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address, timeout)
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(1024).decode("utf-8", "replace")
        ms = (time.perf_counter() - started) * 1000
        ok = 200 <= response.status < 300
        error = "" if ok else f"HTTP {response.status}"
        return AttemptResult(ok, response.status, ms, error, excerpt, retryable=not ok)
    except (OSError, http.client.HTTPException) as exc:
        ms = (time.perf_counter() - started) * 1000
        return AttemptResult(False, None, ms, f"{type(exc).__name__}: {exc}", "", retryable=True)
    finally:
        connection.close()


def webhook_deliver(*, delivery_id: int) -> tuple[WebhookDelivery | None, bool]:
    """Make one attempt at a delivery; returns (delivery, retry_wanted).

    Records the attempt (status, response time, error) on the delivery. A delivery that
    fails for good (attempts used up, or a refused target) counts against its
    subscription, which is disabled after `WEBHOOKS_DISABLE_AFTER_FAILURES` such failures
    in a row; a success resets the count.
    """
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in FINAL_STATUSES:
        return delivery, False
    subscription = delivery.subscription
    now = timezone.now()
    if not _setting("WEBHOOKS_DELIVERY_ENABLED", True):
        _finish(delivery, DeliveryStatus.SKIPPED, error="Deliveries are switched off (WEBHOOKS_DELIVERY_ENABLED).")
        return delivery, False
    if not subscription.is_active:
        _finish(delivery, DeliveryStatus.SKIPPED, error="The subscription is disabled.")
        return delivery, False

    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CRM-Event": delivery.event,
        "X-CRM-Delivery": str(delivery.event_id),
        "X-CRM-Timestamp": str(timestamp),
        "X-CRM-Signature": webhook_signature(secret=subscription.secret, timestamp=timestamp, body=body),
    }
    result = _post(subscription.url, body, headers)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = result.status
    delivery.response_ms = None if result.ms is None else round(result.ms, 1)
    delivery.response_excerpt = result.excerpt
    delivery.error = result.error
    delivery.attempt_log = [
        *delivery.attempt_log,
        {"at": _iso(now), "status": result.status, "ms": delivery.response_ms, "error": result.error},
    ][-20:]
    if result.ok:
        _finish(delivery, DeliveryStatus.SUCCEEDED, error="")
        if subscription.consecutive_failures:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        return delivery, False
    max_attempts = int(_setting("WEBHOOKS_MAX_ATTEMPTS", 6))
    if result.retryable and delivery.attempts < max_attempts:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + dt.timedelta(seconds=webhook_backoff(attempt=delivery.attempts))
        delivery.save()
        return delivery, True
    _finish(delivery, DeliveryStatus.FAILED, error=result.error)
    _count_failure(subscription, reason=result.error)
    return delivery, False


def webhook_backoff(*, attempt: int) -> int:
    """Seconds to wait before the next attempt: base * 2^(attempt-1), capped at an hour (30 s, 1, 2, 4, 8 min…)."""
    base = int(_setting("WEBHOOKS_RETRY_BASE_SECONDS", 30))
    return min(3600, base * 2 ** max(0, attempt - 1))


def _finish(delivery: WebhookDelivery, status: str, *, error: str) -> None:
    delivery.status = status
    delivery.error = error
    delivery.next_attempt_at = None
    if status == DeliveryStatus.SUCCEEDED:
        delivery.delivered_at = timezone.now()
    delivery.save()


def _count_failure(subscription: WebhookSubscription, *, reason: str) -> None:
    limit = int(_setting("WEBHOOKS_DISABLE_AFTER_FAILURES", 5))
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    # Conditional UPDATE: two workers failing at once disable it once, with one reason.
    disabled = WebhookSubscription.objects.filter(
        pk=subscription.pk, is_active=True, consecutive_failures__gte=limit
    ).update(
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason=f"Disabled after {limit} failed deliveries in a row; the last one: {reason}"[:2000],
    )
    if disabled:
        cache.delete(ACTIVE_EVENTS_CACHE_KEY)
