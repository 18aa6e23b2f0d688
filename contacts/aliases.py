"""Aliases: the emails and external ids of merged-away contacts, resolved to their survivor (issue 17).

Every look-up by email or external id — the API's filters, upserts, bulk touchpoints and
imports — asks the contacts first and the aliases second, so a key that names a contact
directly always wins over an alias.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from contacts.models import AliasKind, Contact, ContactAlias, ContactMerge


def alias_normalise(kind: str, value: str) -> str:
    """Emails compare case-insensitively (stored lower-cased); external ids exactly, trimmed."""
    value = str(value).strip()
    return value.lower() if kind == AliasKind.EMAIL else value


def alias_resolve(*, kind: str, values: Iterable[str]) -> dict[str, int]:
    """Normalised value → contact id for the values that are aliases of `kind`; one query."""
    wanted = {alias_normalise(kind, v) for v in values if str(v).strip()}
    if not wanted:
        return {}
    return dict(ContactAlias.objects.filter(kind=kind, value__in=wanted).values_list("value", "contact_id"))


def alias_contact_ids(*, kind: str, value: str) -> QuerySet:
    """The ids (0 or 1) of the contact this value is an alias of, as a subquery for filters."""
    return ContactAlias.objects.filter(kind=kind, value=alias_normalise(kind, value)).values("contact_id")


def contact_key_q(*, kind: str, value: str) -> Q:
    """A filter for the contact named by this email or external id, directly or through an alias."""
    direct = Q(email__iexact=value.strip()) if kind == AliasKind.EMAIL else Q(external_id=value.strip())
    return direct | Q(pk__in=alias_contact_ids(kind=kind, value=value))


def aliases_add_for_merge(*, survivor: Contact, email: str, external_id: str | None, merge: ContactMerge) -> int:
    """Make the removed contact's email and external id (when the survivor did not take it) aliases of the survivor."""
    rows = [
        ContactAlias(contact=survivor, kind=AliasKind.EMAIL, value=alias_normalise(AliasKind.EMAIL, email), merge=merge)
    ]
    if external_id and external_id != survivor.external_id:
        rows.append(
            ContactAlias(
                contact=survivor,
                kind=AliasKind.EXTERNAL_ID,
                value=alias_normalise(AliasKind.EXTERNAL_ID, external_id),
                merge=merge,
            )
        )
    created = ContactAlias.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)
