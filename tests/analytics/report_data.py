"""Random and fixed data for report tests, inserted in bulk (reports read many rows)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from contacts.models import Contact, Touchpoint
from stages.models import Stage, StageTransition

PATH = ["awareness", "engagement", "consideration", "purchase", "retention", "loyalty", "advocacy"]
CHANNELS = ["email", "organic_search", "paid_social"]


def at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute, second)))


def stages() -> dict[str, Stage]:
    return {s.slug: s for s in Stage.objects.all()}


def contacts_create(n: int, *, rng: random.Random | None = None, owners: list | None = None, **fixed) -> list[Contact]:
    """n contacts in awareness with random channels/owners (or the fixed values given)."""
    rng = rng or random.Random(0)
    awareness = Stage.objects.get(slug="awareness")
    start = Contact.objects.count()
    objs = []
    for i in range(n):
        values = {
            "email": f"c{start + i}-{rng.random():.8f}@example.com",
            "acquisition_channel": rng.choice(CHANNELS),
            "owner": rng.choice(owners) if owners else None,
            "stage": awareness,
            "stage_entered_at": at(dt.date(2024, 1, 1)),
            "acquired_at": at(dt.date(2024, 1, 1)),
        }
        values.update(fixed)
        objs.append(Contact(**values))
    return Contact.objects.bulk_create(objs)


def transitions_create(rows: list[tuple[int, str | None, str, dt.datetime]]) -> None:
    """(contact_id, from_slug, to_slug, effective_at) rows."""
    by_slug = stages()
    StageTransition.objects.bulk_create(
        [
            StageTransition(
                contact_id=cid,
                from_stage=by_slug[src] if src else None,
                to_stage=by_slug[dst],
                effective_at=when,
                source="rule",
            )
            for cid, src, dst, when in rows
        ]
    )


def touchpoints_create(rows: list[tuple[int, str, dt.datetime, str | None, int | None]]) -> None:
    """(contact_id, kind, occurred_at, amount, campaign_id) rows."""
    Touchpoint.objects.bulk_create(
        [
            Touchpoint(
                contact_id=cid,
                kind=kind,
                occurred_at=when,
                amount=Decimal(amount) if amount is not None else None,
                campaign_id=campaign,
                source="import",
            )
            for cid, kind, when, amount, campaign in rows
        ]
    )


def metrics_write() -> None:
    """Write every contact's base metrics (purchases, revenue, first purchase…) from its touchpoints.

    What the lifecycle engine does after each touchpoint write and nightly; here with no rule, so no
    contact moves. Reports that read the engine's metrics (cohort retention's first purchase) need it
    after data is inserted in bulk.
    """
    from stages.engine import lifecycle_evaluate

    lifecycle_evaluate(rules=[])
