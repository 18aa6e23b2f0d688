"""Signing webhook bodies and checking their targets.

Signature (documented in docs/API.md): `X-CRM-Signature: v1=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.".encode() + body) and `X-CRM-Timestamp` is the Unix
time of the attempt, so a receiver can reject replays older than a few minutes.

Targets on loopback, private, link-local or otherwise non-public addresses are refused
(a CRM user must not be able to make the server call its own network) unless the
`WEBHOOKS_ALLOW_PRIVATE_TARGETS` setting is on. The address is checked when the
subscription is saved and again at every attempt (webhooks.delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from webhooks.addresses import address_is_public


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
    # Through every embedded IPv4 form (NAT64, 6to4, IPv4-compatible…): see webhooks.addresses.
    return address_is_public(address)


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
