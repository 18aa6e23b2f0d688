"""Webhook writes and deliveries: subscriptions, event fan-out into deliveries, and the signed HTTP POST.

Signature (documented in docs/API.md): `X-CRM-Signature: v1=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.".encode() + body) and `X-CRM-Timestamp` is the Unix
time of the attempt, so a receiver can reject replays older than a few minutes.

Targets on loopback, private, link-local or otherwise non-public addresses are refused
(a CRM user must not be able to make the server call its own network) unless the
`WEBHOOKS_ALLOW_PRIVATE_TARGETS` setting is on. The address is checked when the
subscription is saved and again at every attempt, and the connection goes to the very
address that was checked (no second DNS lookup an attacker could change in between).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks.models import (
    FINAL_STATUSES,
    SUBSCRIBABLE_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

OBJECTS_PER_DELIVERY = 100
ACTIVE_EVENTS_CACHE_KEY = "webhooks:active-events"
USER_AGENT = "LifecycleCRM-Webhooks/1.0"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- signing ---------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `X-CRM-Signature` value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def webhook_signature_verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the signature and reject stale timestamps (replays)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(webhook_signature(secret=secret, timestamp=ts, body=body), signature)


# --- targets ---------------------------------------------------------------------------------


class TargetRefused(Exception):
    """The URL points somewhere deliveries may not go."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_target_resolve(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) for a URL, refusing non-public addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Only http and https URLs are allowed.")
    host = parts.hostname
    if not host:
        raise TargetRefused("The URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("The URL has an invalid port.") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"Cannot resolve {host!r}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise TargetRefused(f"Cannot resolve {host!r}.")
    if not _setting("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False):
        private = [a for a in addresses if not _is_public(a)]
        if private:
            raise TargetRefused(
                f"{host!r} resolves to a loopback or private address ({private[0]}); deliveries there are refused "
                "(an administrator can allow them with WEBHOOKS_ALLOW_PRIVATE_TARGETS)."
            )
    return parts.scheme, host, port, addresses[0]


def webhook_url_clean(url: Any) -> str:
    """Validate a subscription URL (shape and, where it resolves now, its address); raises ValidationError."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": "A URL is required."})
    url = url.strip()
    if len(url) > 500:
        raise ValidationError({"url": "At most 500 characters."})
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Give an http(s) URL with a host."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Put credentials in the signature secret, not in the URL."})
    try:
        webhook_target_resolve(url)
    except TargetRefused as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url


def _events_clean(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationError({"events": f"A non-empty list of events from: {', '.join(SUBSCRIBABLE_EVENTS)}."})
    unknown = [e for e in events if e not in SUBSCRIBABLE_EVENTS]
    if unknown:
        raise ValidationError({"events": f"Unknown event(s): {', '.join(map(str, unknown))}."})
    return sorted(set(events))


# --- subscriptions ---------------------------------------------------------------------------


def _active_events_forget() -> None:
    # Now, and again after commit: another process may re-cache the old set in between.
    cache.delete(ACTIVE_EVENTS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(ACTIVE_EVENTS_CACHE_KEY))


def webhook_active_events() -> set[str]:
    """Events some active subscription listens to (cached for a minute, dropped on every subscription change).

    Signal receivers ask this before enqueueing anything, so ingestion pays nothing for
    events nobody subscribed to.
    """
    events = cache.get(ACTIVE_EVENTS_CACHE_KEY)
    if events is None:
        events = set()
        for subscribed in WebhookSubscription.objects.filter(is_active=True).values_list("events", flat=True):
            events.update(subscribed or [])
        cache.set(ACTIVE_EVENTS_CACHE_KEY, events, 60)
    return set(events)


@transaction.atomic
def webhook_subscription_create(
    *, name: str, url: str, events: list[str], created_by: Any = None
) -> tuple[WebhookSubscription, str]:
    """Create a subscription with a new random secret; returns it with the secret (show it once)."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError({"name": "A name of 1 to 100 characters."})
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    subscription = WebhookSubscription.objects.create(
        name=name,
        url=webhook_url_clean(url),
        events=_events_clean(events),
        secret=secret,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    _active_events_forget()
    return subscription, secret


@transaction.atomic
def webhook_subscription_update(*, subscription: WebhookSubscription, data: dict[str, Any]) -> WebhookSubscription:
    """Change name, URL, events or is_active. Re-enabling clears the failure count and the disable reason."""
    if "name" in data:
        name = (data["name"] or "").strip() if isinstance(data["name"], str) else ""
        if not name or len(name) > 100:
            raise ValidationError({"name": "A name of 1 to 100 characters."})
        subscription.name = name
    if "url" in data:
        subscription.url = webhook_url_clean(data["url"])
    if "events" in data:
        subscription.events = _events_clean(data["events"])
    if "is_active" in data:
        active = bool(data["is_active"])
        if active and not subscription.is_active:
            subscription.consecutive_failures = 0
            subscription.disabled_at = None
            subscription.disabled_reason = ""
        elif not active and subscription.is_active:
            subscription.disabled_at = timezone.now()
            subscription.disabled_reason = "Disabled by hand."
        subscription.is_active = active
    subscription.save()
    _active_events_forget()
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    subscription.delete()
    _active_events_forget()


# --- events ----------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _contacts_data(contact_ids: Sequence[int]) -> list[dict[str, Any]]:
    from contacts.models import Contact

    rows = Contact.objects.filter(pk__in=contact_ids).select_related("stage").order_by("id")
    return [
        {
            "id": c.pk,
            "email": c.email,
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "owner": c.owner_id,
            "stage": c.stage.slug,
            "stage_entered_at": _iso(c.stage_entered_at),
            "created_at": _iso(c.created_at),
        }
        for c in rows
    ]


def _touchpoints_data(touchpoint_ids: Sequence[int]) -> list[dict[str, Any]]:
    from contacts.models import Touchpoint

    rows = Touchpoint.objects.filter(pk__in=touchpoint_ids).select_related("contact").order_by("id")
    return [
        {
            "id": t.pk,
            "contact": t.contact_id,
            "contact_external_id": t.contact.external_id,
            "contact_email": t.contact.email,
            "kind": t.kind,
            "channel": t.channel,
            "occurred_at": _iso(t.occurred_at),
            "amount": None if t.amount is None else str(t.amount),
            "score": t.score,
            "campaign": t.campaign_id,
            "source": t.source,
            "external_id": t.external_id,
        }
        for t in rows
    ]


def _transitions_data(transition_ids: Sequence[int]) -> list[dict[str, Any]]:
    from stages.models import StageTransition

    rows = (
        StageTransition.objects.filter(pk__in=transition_ids)
        .select_related("contact", "from_stage", "to_stage")
        .order_by("id")
    )
    return [
        {
            "id": t.pk,
            "contact": {"id": t.contact_id, "email": t.contact.email, "external_id": t.contact.external_id},
            "from_stage": t.from_stage.slug if t.from_stage else None,
            "to_stage": t.to_stage.slug,
            "effective_at": _iso(t.effective_at),
            "source": t.source,
            "is_win_back": t.is_win_back,
            "note": t.note,
        }
        for t in rows
    ]


BUILDERS = {
    WebhookEvent.CONTACT_CREATED: ("contacts", _contacts_data),
    WebhookEvent.TOUCHPOINT_CREATED: ("touchpoints", _touchpoints_data),
    WebhookEvent.CONTACT_STAGE_CHANGED: ("transitions", _transitions_data),
}


def webhook_event_publish(*, event: str, object_ids: Sequence[int]) -> list[int]:
    """Turn an event about some objects into deliveries for every active subscription to it; returns their ids.

    Objects go in chunks of 100 per delivery (`data.<objects>` is a list), so a batch of
    1,000 touchpoints is ten POSTs per subscriber, not a thousand. Each delivery is
    enqueued after commit.
    """
    if event not in BUILDERS:
        raise ValidationError({"event": f"Unknown event {event!r}."})
    subscriptions = [s for s in WebhookSubscription.objects.filter(is_active=True) if event in (s.events or [])]
    if not subscriptions or not object_ids:
        return []
    key, build = BUILDERS[event]
    ids = sorted(set(object_ids))
    deliveries: list[WebhookDelivery] = []
    now = timezone.now()
    for start in range(0, len(ids), OBJECTS_PER_DELIVERY):
        objects = build(ids[start : start + OBJECTS_PER_DELIVERY])
        if not objects:
            continue
        for subscription in subscriptions:
            delivery = WebhookDelivery(subscription=subscription, event=event, created_at=now, payload={})
            delivery.payload = {
                "id": str(delivery.event_id),
                "type": event,
                "created_at": _iso(now),
                "data": {key: objects},
            }
            deliveries.append(delivery)
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
        delivery_ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(delivery_ids))
    return delivery_ids


@transaction.atomic
def webhook_ping(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a `ping` delivery to check an endpoint and its signature verification."""
    delivery = WebhookDelivery(subscription=subscription, event=WebhookEvent.PING, payload={})
    delivery.payload = {
        "id": str(delivery.event_id),
        "type": WebhookEvent.PING,
        "created_at": _iso(timezone.now()),
        "data": {"subscription": subscription.pk},
    }
    delivery.save()
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    return delivery


def _enqueue(delivery_ids: list[int]) -> None:
    from webhooks.tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        try:
            webhook_deliver_task.delay(delivery_id)
        except Exception:  # broker down: the delivery stays `pending` in the log rather than failing the request
            logger.exception("Could not enqueue webhook delivery %s; it stays pending", delivery_id)


def webhook_requeue_stale(*, older_than: dt.timedelta = dt.timedelta(minutes=10), limit: int = 1000) -> int:
    """Enqueue again deliveries that should have been attempted long ago; returns how many.

    A delivery stays `pending` when the broker was down as it was queued, and a `retrying`
    one is lost if its scheduled retry message is. Run by beat every 10 minutes. Delivery is
    at least once: a receiver drops repeats by `X-CRM-Delivery`.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, created_at__lt=cutoff)
            | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lt=cutoff)
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    _enqueue(stale)
    return len(stale)


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
