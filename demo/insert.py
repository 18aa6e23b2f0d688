"""Writing the drawn demo journeys set-based: contacts, tags, touchpoints, campaign members.

The journeys are valid by construction, so rows go in large batches without the per-row
validation of the contact services and without enqueueing per-touchpoint evaluations.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connections, router
from django.utils import timezone

from campaigns.models import Campaign, CampaignMember
from contacts.models import Contact, Tag, Touchpoint
from contacts.services import stage_initial
from demo.catalogue import (
    BATCH_SIZE,
    COMPANY_FIRST,
    COMPANY_SECOND,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    MAIL_DOMAINS,
    C,
    K,
)
from demo.draw import _at, _Person
from stages.models import StageTransition, TransitionSource


def _insert_contacts(
    *, rng: np.random.Generator, people: list[_Person], reps: list[Any], campaigns: list[Campaign], start: dt.datetime
) -> list[int]:
    """Contacts in the first stage with their first transition, in bulk; returns their ids in `people` order."""
    count = len(people)
    first = rng.integers(0, len(FIRST_NAMES), size=count)
    last = rng.integers(0, len(LAST_NAMES), size=count)
    domain = rng.integers(0, len(MAIL_DOMAINS), size=count)
    company_a = rng.integers(0, len(COMPANY_FIRST), size=count)
    company_b = rng.integers(0, len(COMPANY_SECOND), size=count)
    country = rng.choice(len(COUNTRIES), size=count, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS))
    phone = rng.integers(1_000_000, 9_999_999, size=count)
    has_phone = rng.random(count) < 0.45
    initial = stage_initial()
    rows = []
    for i, person in enumerate(people):
        given, family = FIRST_NAMES[first[i]], LAST_NAMES[last[i]]
        company = f"{COMPANY_FIRST[company_a[i]]} {COMPANY_SECOND[company_b[i]]}" if person.b2b else ""
        mail_domain = (
            f"{COMPANY_FIRST[company_a[i]]}-{COMPANY_SECOND[company_b[i]]}.example".lower()
            if person.b2b
            else MAIL_DOMAINS[domain[i]]
        )
        acquired = _at(start, person.day)
        bought = any(event.kind == K.PURCHASE for event in person.events)
        unsubscribed = _at(start, person.unsubscribed_day) if person.unsubscribed_day is not None else None
        rows.append(
            Contact(
                email=f"{given}.{family}.{i + 1}@{mail_domain}".lower(),
                first_name=given,
                last_name=family,
                phone=f"+1 555 {phone[i]:07d}" if has_phone[i] else "",
                company=company,
                external_id=f"SHOP-{i + 1:07d}" if bought else None,
                owner=reps[person.owner] if person.owner is not None else None,
                acquisition_channel=person.channel,
                acquisition_campaign=campaigns[person.campaign] if person.campaign is not None else None,
                acquired_at=acquired,
                marketing_consent=person.consent and unsubscribed is None,
                consent_updated_at=unsubscribed or (acquired if person.consent else None),
                unsubscribed_at=unsubscribed,
                attributes={"country": COUNTRIES[country[i]], "segment": "b2b" if person.b2b else "b2c"},
                stage=initial,
                stage_entered_at=acquired,
                stage_source=TransitionSource.RULE,
                created_at=acquired,
            )
        )
    created = Contact.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    ids = [contact.pk for contact in created]
    if any(pk is None for pk in ids):  # every supported backend returns primary keys from bulk inserts
        raise RuntimeError("The database did not return the ids of the inserted contacts.")
    now = timezone.now()
    _insert_rows(
        StageTransition,
        ("contact_id", "from_stage_id", "to_stage_id", "effective_at", "recorded_at", "source", "note", "is_win_back"),
        [
            (
                pk,
                None,
                initial.pk,
                contact.acquired_at,
                now,
                str(TransitionSource.SYSTEM),
                "Demo data: first placement",
                False,
            )
            for pk, contact in zip(ids, created, strict=True)
        ],
        datetime_columns=("effective_at", "recorded_at"),
    )
    return ids


def _insert_tags(*, people: list[_Person], contact_ids: list[int], tags: dict[str, Tag]) -> None:
    through = Contact.tags.through
    rows = [
        through(contact_id=contact_ids[person.index], tag_id=tags[name].pk)
        for person in people
        for name in sorted(person.tags)
    ]
    through.objects.bulk_create(rows, batch_size=BATCH_SIZE)


def _insert_touchpoints(
    *, people: list[_Person], contact_ids: list[int], campaigns: list[Campaign], reps: list[Any], start: dt.datetime
) -> tuple[int, int]:
    """All touchpoints in bulk. Purchases and refunds carry the shop's order id as external id."""
    columns = (
        "contact_id",
        "kind",
        "channel",
        "occurred_at",
        "amount",
        "score",
        "campaign_id",
        "logged_by_id",
        "source",
        "external_id",
        "note",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "created_at",
    )
    rows: list[tuple] = []
    purchases = refunds = 0
    for person in people:
        contact_id = contact_ids[person.index]
        for event in person.events:
            campaign = campaigns[event.campaign] if event.campaign is not None else None
            external_id = None
            if event.kind == K.PURCHASE:
                purchases += 1
                external_id = f"ORDER-{purchases:08d}"
            elif event.kind == K.REFUND:
                refunds += 1
                external_id = f"REFUND-{refunds:08d}"
            when = _at(start, event.day)
            rows.append(
                (
                    contact_id,
                    str(event.kind),
                    str(event.channel),
                    when,
                    Decimal(f"{event.amount:.2f}") if event.amount is not None else None,
                    event.score,
                    campaign.pk if campaign else None,
                    reps[event.logged_by].pk if event.logged_by is not None else None,
                    str(event.source),
                    external_id,
                    "",
                    _utm_source(campaign.channel) if campaign else "",
                    campaign.channel if campaign else "",
                    campaign.utm_campaign if campaign else "",
                    when,
                )
            )
    _insert_rows(Touchpoint, columns, rows, datetime_columns=("occurred_at", "created_at"))
    return len(rows), purchases


def _insert_rows(model: Any, columns: tuple[str, ...], rows: list[tuple], *, datetime_columns: tuple[str, ...]) -> None:
    """Multi-row INSERTs of ready values, `BATCH_SIZE` rows per statement.

    `bulk_create` prepares every value of every row through its field (half a million
    calls for 30k touchpoints); these values are already valid by construction, so only
    the date-times need the backend's adaptation (SQLite stores them as UTC text).
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    positions = [columns.index(name) for name in datetime_columns]
    if positions and connection.vendor != "postgresql":
        adapt = connection.ops.adapt_datetimefield_value
        rows = [tuple(adapt(v) if k in positions else v for k, v in enumerate(row)) for row in rows]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # SQLite allows 32766 bound parameters per statement (3.32+); stay well below.
    per_statement = min(BATCH_SIZE, 30000 // len(columns))
    with connection.cursor() as cursor:
        for offset in range(0, len(rows), per_statement):
            chunk = rows[offset : offset + per_statement]
            cursor.execute(head + ", ".join([one] * len(chunk)), [value for row in chunk for value in row])


def _utm_source(channel: str) -> str:
    return {
        C.PAID_SEARCH: "google",
        C.PAID_SOCIAL: "social",
        C.DISPLAY: "display-network",
        C.AFFILIATE: "partner",
        C.EMAIL: "newsletter",
        C.EVENTS: "webinar",
    }.get(channel, "other")


def _insert_members(
    *, people: list[_Person], contact_ids: list[int], campaigns: list[Campaign], start: dt.datetime
) -> None:
    """A contact is a member of every campaign that reached it (acquisition or an attributed touch)."""
    rows = []
    for person in people:
        first_touch: dict[int, float] = {}
        if person.campaign is not None:
            first_touch[person.campaign] = person.day
        for event in person.events:
            if event.campaign is not None and event.campaign not in first_touch:
                first_touch[event.campaign] = event.day
        for index, day in sorted(first_touch.items()):
            rows.append(
                CampaignMember(
                    campaign=campaigns[index],
                    contact_id=contact_ids[person.index],
                    enrolled_at=_at(start, day),
                    source="demo",
                )
            )
    CampaignMember.objects.bulk_create(rows, batch_size=BATCH_SIZE)
