"""Reads of plays: the per-contact play log for the timeline, per-play reporting, and reps' task lists."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)

from contacts.models import TouchpointKind
from plays.models import ActionLog, Play, PlayRun, RunStatus, Task, TaskStatus, TriggerType


@dataclass(frozen=True)
class PlayLogAction:
    """One action's outcome in a run: `status` is sent / skipped / failed, `detail` says what or why."""

    action_type: str
    action_label: str
    status: str
    status_label: str
    detail: str
    at: dt.datetime


@dataclass(frozen=True)
class PlayLogEntry:
    """One play run for a contact, with its action outcomes in order; `at` is the time to sort a timeline by."""

    run_id: int
    play_id: int
    play_name: str
    occurrence_key: str
    status: str
    status_label: str
    note: str
    triggered_at: dt.datetime
    due_at: dt.datetime
    finished_at: dt.datetime | None
    acted: bool
    actions: list[PlayLogAction] = field(default_factory=list)

    @property
    def at(self) -> dt.datetime:
        return self.finished_at or self.due_at

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"at": self.at}


def contact_play_log(*, contact_id: int, limit: int = 50) -> list[PlayLogEntry]:
    """The latest play runs of one contact (newest first) with every action's outcome; two queries.

    Meant for the contact page's timeline: each entry says which play ran, why it was
    skipped if it was, and what each action did (sent / skipped and why / failed and why).
    """
    runs = list(
        PlayRun.objects.filter(contact_id=contact_id).select_related("play").order_by("-created_at", "-id")[:limit]
    )
    logs: dict[int, list[PlayLogAction]] = defaultdict(list)
    for log in ActionLog.objects.filter(run__in=runs).order_by("created_at", "id"):
        logs[log.run_id].append(
            PlayLogAction(
                action_type=log.action_type,
                action_label=log.get_action_type_display(),
                status=log.status,
                status_label=log.get_status_display(),
                detail=log.detail,
                at=log.created_at,
            )
        )
    return [
        PlayLogEntry(
            run_id=run.pk,
            play_id=run.play_id,
            play_name=run.play.name,
            occurrence_key=run.occurrence_key,
            status=run.status,
            status_label=run.get_status_display(),
            note=run.note,
            triggered_at=run.triggered_at,
            due_at=run.due_at,
            finished_at=run.finished_at,
            acted=run.acted,
            actions=logs.get(run.pk, []),
        )
        for run in runs
    ]


@dataclass(frozen=True)
class PlayReport:
    """Per play: contacts entered (runs), acted on, converted (reached the goal stage within the window after the
    run) and the revenue from purchases within the window after the run."""

    play_id: int
    entered: int = 0
    acted: int = 0
    skipped: int = 0
    converted: int = 0
    revenue: Decimal = Decimal("0.00")

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.acted if self.acted else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"conversion_rate": self.conversion_rate}


def play_report(*, play_ids: Sequence[int] | None = None, since: dt.datetime | None = None) -> dict[int, PlayReport]:
    """Reporting for plays, set-based: three GROUP BY play queries (counts, conversions, revenue) over joins.

    Conversion and revenue count finished runs that acted; the window starts when the run
    finished and lasts the play's goal window. Joins rather than a correlated subquery per
    run, so PostgreSQL may hash-join runs against purchases and transitions instead of
    probing an index once per run. `since` limits the report to runs created since then.
    A contact with overlapping runs of one play counts its purchases once per run.
    """
    runs = PlayRun.objects.all()
    if play_ids is not None:
        runs = runs.filter(play_id__in=list(play_ids))
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    window_end = ExpressionWrapper(F("finished_at") + F("play__goal_window"), output_field=DateTimeField())
    counts = (
        runs.order_by()
        .values("play_id")
        .annotate(
            entered=Count("pk"),
            acted_count=Count("pk", filter=Q(acted=True)),
            skipped_count=Count("pk", filter=Q(status=RunStatus.SKIPPED)),
        )
    )
    acted = runs.filter(acted=True, finished_at__isnull=False).annotate(window_end=window_end)
    converted = dict(
        acted.filter(
            contact__transitions__to_stage_id=F("play__goal_stage_id"),
            contact__transitions__effective_at__gt=F("finished_at"),
            contact__transitions__effective_at__lte=F("window_end"),
        )
        .order_by()
        .values("play_id")
        .annotate(n=Count("pk", distinct=True))
        .values_list("play_id", "n")
    )
    revenue = dict(
        acted.filter(
            contact__touchpoints__kind=TouchpointKind.PURCHASE,
            contact__touchpoints__occurred_at__gt=F("finished_at"),
            contact__touchpoints__occurred_at__lte=F("window_end"),
        )
        .order_by()
        .values("play_id")
        .annotate(total=Sum("contact__touchpoints__amount"))
        .values_list("play_id", "total")
    )
    reports = {pk: PlayReport(play_id=pk) for pk in (play_ids or [])}
    for row in counts:
        pk = row["play_id"]
        reports[pk] = PlayReport(
            play_id=pk,
            entered=row["entered"],
            acted=row["acted_count"],
            skipped=row["skipped_count"],
            converted=converted.get(pk, 0),
            revenue=(revenue.get(pk) or Decimal("0")).quantize(Decimal("0.01")),
        )
    return reports


def play_list() -> QuerySet[Play]:
    """Every play with its trigger and goal stages, for the play list."""
    return Play.objects.select_related("trigger_stage", "goal_stage", "condition_stage").annotate(
        action_count=Count("actions")
    )


def play_recent_runs(*, play_id: int, limit: int = 50) -> QuerySet[PlayRun]:
    """The latest runs of a play with their contacts, for the play page."""
    return PlayRun.objects.filter(play_id=play_id).select_related("contact").order_by("-created_at", "-id")[:limit]


def task_list_for_user(*, user: Any, status: str | None = TaskStatus.OPEN) -> QuerySet[Task]:
    """A rep's own tasks (open ones by default), soonest due first, with contact and stage for the list."""
    qs = Task.objects.filter(owner_id=user.pk).select_related("contact", "contact__stage", "run__play")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("due_on", "id") if status == TaskStatus.OPEN else qs.order_by("-completed_at", "-id")


@dataclass
class PlayAudience:
    """Who a play would act on if it ran now: a count and the first few, with what the count means."""

    count: int
    sample: list[Any]
    meaning: str


def play_audience_preview(*, play: Play, now: dt.datetime | None = None, sample_size: int = 10) -> PlayAudience:
    """The contacts a play would reach today, from its trigger and conditions, without writing anything.

    Event triggers (a stage entered, a touchpoint logged) have no audience until the event happens, so the
    preview counts who matches them today: contacts now in the trigger stage, or who logged the kind in the
    last 30 days; scanned triggers count who is due now. Conditions (stage, consent, segment) apply on top.
    """
    from contacts.filters import ContactFilterSet, filters_to_querydict
    from contacts.models import Contact

    now = now or dt.datetime.now(dt.UTC)
    people = Contact.objects.all()
    kind = play.trigger_type
    if kind == TriggerType.STAGE_ENTERED:
        people = people.filter(stage_id=play.trigger_stage_id)
        meaning = f"contacts now in {play.trigger_stage.name if play.trigger_stage_id else 'the stage'}"
    elif kind == TriggerType.TOUCHPOINT_LOGGED:
        people = people.filter(
            touchpoints__kind=play.trigger_kind, touchpoints__occurred_at__gte=now - dt.timedelta(days=30)
        ).distinct()
        meaning = f"contacts with a {play.trigger_kind_label.lower()} in the last 30 days"
    elif kind == TriggerType.P_ALIVE_BELOW:
        people = people.filter(metrics__p_alive__lt=play.p_alive_threshold or 0)
        meaning = "customers whose probability of being alive is below the threshold now"
    elif kind == TriggerType.SILENCE:
        people = people.filter(metrics__last_touch_at__lt=now - dt.timedelta(days=play.silence_days or 0))
        meaning = f"contacts with no touch for {play.silence_days or 0} days"
    else:
        people = people.filter(metrics__first_purchase_at__isnull=False)
        meaning = "customers (each is reached on the anniversary of their first purchase)"
    if play.condition_stage_id:
        people = people.filter(stage_id=play.condition_stage_id)
    if play.condition_consent:
        people = people.filter(marketing_consent=True, unsubscribed_at__isnull=True)
    if play.condition_segment_id:
        filterset = ContactFilterSet(filters_to_querydict(play.condition_segment.filters), queryset=people, user=None)
        people = filterset.qs if filterset.is_valid() else people.none()
    return PlayAudience(
        count=people.count(),
        sample=list(people.select_related("stage").order_by("-id")[:sample_size]),
        meaning=meaning,
    )
