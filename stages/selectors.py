"""Reads of the lifecycle history: stage visits, time in stage, highest stage reached.

Everything derives from StageTransition (append-only): a visit to a stage starts at a
transition into it and ends at the contact's next transition (LEAD over the contact's
history in one query). Nothing is cached on the contact except its current stage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Lead
from django.utils import timezone

from stages.models import Stage, StageCategory, StageTransition


def stage_visits(*, contact_ids: Sequence[int] | None = None) -> QuerySet[StageTransition]:
    """Transitions annotated with `exited_at` (the next transition's effective time, NULL while still there).

    One window query (LEAD partitioned by contact, ordered like the history); analytics
    can aggregate over it (time in stage, stage reached) without a per-contact loop.
    """
    qs = StageTransition.objects.all()
    if contact_ids is not None:
        qs = qs.filter(contact_id__in=list(contact_ids))
    return qs.annotate(
        exited_at=Window(Lead("effective_at"), partition_by=[F("contact_id")], order_by=[F("effective_at"), F("id")]),
        next_stage_id=Window(
            Lead("to_stage_id"), partition_by=[F("contact_id")], order_by=[F("effective_at"), F("id")]
        ),
    ).order_by("contact_id", "effective_at", "id")


def transitions_with_exit(queryset: QuerySet[StageTransition]) -> QuerySet[StageTransition]:
    """Transitions annotated with `exited_at`: the effective time of the contact's next move (NULL while current).

    A correlated subquery rather than LEAD, so it stays right under any filter of the feed (a
    window sees only the filtered rows); each probe is one seek in the (contact, effective_at) index.
    """
    following = StageTransition.objects.filter(contact_id=OuterRef("contact_id")).filter(
        Q(effective_at__gt=OuterRef("effective_at")) | Q(effective_at=OuterRef("effective_at"), id__gt=OuterRef("id"))
    )
    return queryset.annotate(exited_at=Subquery(following.order_by("effective_at", "id").values("effective_at")[:1]))


@dataclass
class StageTime:
    """One stage in one contact's history."""

    stage: Stage
    visits: int = 0
    first_entered_at: dt.datetime | None = None
    last_entered_at: dt.datetime | None = None
    last_exited_at: dt.datetime | None = None  # None while the contact is still in it
    latest_duration: dt.timedelta = dt.timedelta(0)
    total_duration: dt.timedelta = dt.timedelta(0)
    is_current: bool = False

    def as_dict(self) -> dict:
        return {
            "stage": self.stage.slug,
            "visits": self.visits,
            "first_entered_at": self.first_entered_at,
            "last_entered_at": self.last_entered_at,
            "last_exited_at": self.last_exited_at,
            "latest_seconds": int(self.latest_duration.total_seconds()),
            "total_seconds": int(self.total_duration.total_seconds()),
            "is_current": self.is_current,
        }


@dataclass
class StageHistory:
    """A contact's journey: its transitions in order and the derived per-stage times."""

    contact_id: int
    transitions: list[StageTransition] = field(default_factory=list)
    stages: list[StageTime] = field(default_factory=list)  # in path order
    highest_stage: Stage | None = None  # furthest stage reached on the path (exit stages excluded)

    def for_stage(self, slug: str) -> StageTime | None:
        return next((s for s in self.stages if s.stage.slug == slug), None)


def contact_stage_history(*, contact_id: int, now: dt.datetime | None = None) -> StageHistory:
    """Per stage entered/exited times, latest and cumulative time in stage, highest stage reached.

    The transitions come from one query (stage_visits, LEAD); folding one contact's few
    rows into per-stage figures happens here.
    """
    now = now or timezone.now()
    rows = list(
        stage_visits(contact_ids=[contact_id]).select_related("from_stage", "to_stage", "rule", "user", "touchpoint")
    )
    history = StageHistory(contact_id=contact_id, transitions=rows)
    by_stage: dict[int, StageTime] = {}
    for row in rows:
        item = by_stage.setdefault(row.to_stage_id, StageTime(stage=row.to_stage))
        ended = row.exited_at or now
        duration = max(ended - row.effective_at, dt.timedelta(0))
        item.visits += 1
        item.first_entered_at = item.first_entered_at or row.effective_at
        item.last_entered_at = row.effective_at
        item.last_exited_at = row.exited_at
        item.latest_duration = duration
        item.total_duration += duration
        item.is_current = row.exited_at is None
    history.stages = sorted(by_stage.values(), key=lambda s: s.stage.position)
    on_path = [s.stage for s in history.stages if s.stage.category != StageCategory.EXIT]
    history.highest_stage = max(on_path, key=lambda s: s.position) if on_path else None
    return history
