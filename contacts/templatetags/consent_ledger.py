"""Template tags of the consent ledger: a contact's consent history for the contact page (issue 17)."""

from __future__ import annotations

from django import template

from contacts.models import ConsentEvent, Contact

register = template.Library()


@register.simple_tag
def consent_events(contact: Contact, limit: int = 20) -> list[ConsentEvent]:
    """The contact's latest consent changes, newest first (the full ledger is in the API)."""
    return list(
        ConsentEvent.objects.filter(contact=contact)
        .select_related("user", "api_key")
        .order_by("-created_at", "-id")[:limit]
    )
