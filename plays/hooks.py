"""What plays use from the apps above it, registered by those apps: the webhook publisher.

A play may publish a webhook event about its contacts, but webhooks sits above plays (it also
announces what plays do), so plays never imports it: webhooks registers its publisher here
from WebhooksConfig.ready. Without webhooks installed a webhook action is skipped with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookPublisher:
    """The webhooks app's two entry points a play needs."""

    contact_events: Callable[[], Sequence[str]]  # events whose payload objects are contacts
    publish: Callable[..., list[int]]  # publish(event=..., object_ids=...) -> delivery ids


_PUBLISHER: list[WebhookPublisher] = []


def webhook_publisher_register(
    *, contact_events: Callable[[], Sequence[str]], publish: Callable[..., list[int]]
) -> None:
    """Called once by WebhooksConfig.ready; a second call replaces the first (tests reloading apps)."""
    _PUBLISHER[:] = [WebhookPublisher(contact_events=contact_events, publish=publish)]


def webhook_publisher() -> WebhookPublisher | None:
    """The registered publisher, or None when the webhooks app is not installed."""
    return _PUBLISHER[0] if _PUBLISHER else None
