"""Turning trigger occurrences into PlayRun rows, set-based.

Event triggers (a stage entered, a touchpoint logged) get the ids of what just happened
and write one run per matching (play, contact, occurrence) with one query per active
play. Time-based triggers (silence, probability alive, anniversary) are found by the
periodic scan: per play, one INSERT … SELECT … ON CONFLICT DO NOTHING over only the
window that could have become due since the play's watermark (`Play.scanned_until`).
The unique constraint on (play, contact, occurrence_key) makes every path idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncDate
from django.utils import timezone

from contacts.models import Touchpoint, TouchpointKind, TouchpointSource
from loyalty.models import Redemption, Referral, ReferralStatus, TierChange
from metrics.models import ContactMetrics
from plays.models import SCANNED_TRIGGERS, Play, PlayRun, PlayStatus, RunStatus, TriggerType
from stages.announce import transitions_may_trigger
from stages.models import StageTransition, TransitionSource

logger = logging.getLogger(__name__)

# external_id prefix of the touchpoints plays write (email_sent), so triggers can ignore them.
PLAY_TOUCHPOINT_PREFIX = "play-"


def _event_max_age() -> dt.timedelta:
    """Events older than this when they reach us are history (an import), not news: plays ignore them."""
    return dt.timedelta(hours=getattr(settings, "PLAYS_EVENT_MAX_AGE_HOURS", 48))


def _initial_lookback() -> dt.timedelta:
    """How far back a play's first scan looks: a play turned on acts on what just became due, not on years."""
    return dt.timedelta(hours=getattr(settings, "PLAYS_INITIAL_LOOKBACK_HOURS", 24))


def _stale_claim() -> dt.timedelta:
    """A run claimed longer ago than this belongs to a worker that died; it may be claimed again."""
    return dt.timedelta(seconds=getattr(settings, "PLAYS_STALE_CLAIM_SECONDS", 600))


def add_years(when: dt.datetime, years: int) -> dt.datetime:
    """`when` moved by whole years; 29 February becomes 28 February in non-leap years."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


# --- event triggers ---------------------------------------------------------------------------


def _runs_bulk_insert(*, play: Play, rows: list[tuple[int, str, dt.datetime]], now: dt.datetime) -> None:
    """Insert runs (contact_id, occurrence_key, triggered_at) for `play`, ignoring occurrences already stored."""
    if not rows:
        return
    PlayRun.objects.bulk_create(
        [
            PlayRun(
                play=play,
                contact_id=contact_id,
                occurrence_key=key,
                triggered_at=when,
                due_at=when + play.delay,
                created_at=now,
            )
            for contact_id, key, when in rows
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


def runs_create_for_transitions(*, transition_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Write runs for active stage-entry plays from these transitions; return the ids of their open runs.

    One query per active stage-entry play (plays are few, transitions many). A transition
    recorded long after its effective time (an import of history) is ignored.
    """
    now = now or timezone.now()
    ids = list(transition_ids)
    plays = list(Play.objects.filter(status=PlayStatus.ACTIVE, trigger_type=TriggerType.STAGE_ENTERED))
    if not ids or not plays:
        return []
    keys_by_play: dict[int, list[str]] = {}
    for play in plays:
        found = (
            StageTransition.objects.filter(
                # Issue 17: only moves new to the system and still current, effective within the window of now.
                pk__in=transitions_may_trigger(transition_ids=ids, now=now, window=_event_max_age()),
                to_stage_id=play.trigger_stage_id,
            )
            # Moves made by plays do not trigger plays: two plays moving contacts back and forth would loop.
            .exclude(source=TransitionSource.PLAY)
            .values_list("contact_id", "pk", "effective_at")
        )
        rows = [(contact_id, f"transition:{pk}", min(when, now)) for contact_id, pk, when in found]
        _runs_bulk_insert(play=play, rows=rows, now=now)
        keys_by_play[play.pk] = [key for _, key, _ in rows]
    return _open_run_ids(keys_by_play)


def runs_create_for_touchpoints(*, touchpoint_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Write runs for active touchpoint plays from these touchpoints (kind and optional score range)."""
    now = now or timezone.now()
    ids = list(touchpoint_ids)
    plays = list(Play.objects.filter(status=PlayStatus.ACTIVE, trigger_type=TriggerType.TOUCHPOINT_LOGGED))
    if not ids or not plays:
        return []
    keys_by_play: dict[int, list[str]] = {}
    for play in plays:
        found = Touchpoint.objects.filter(
            # News only: it happened and reached us within the window (an old fact pushed today is history).
            pk__in=ids,
            kind=play.trigger_kind,
            occurred_at__gte=now - _event_max_age(),
            received_at__gte=now - _event_max_age(),
        ).exclude(  # a play's own email_sent touchpoints never trigger plays (an email play on email_sent would loop)
            source=TouchpointSource.SYSTEM, external_id__startswith=PLAY_TOUCHPOINT_PREFIX
        )
        if play.score_min is not None:
            found = found.filter(score__gte=play.score_min)
        if play.score_max is not None:
            found = found.filter(score__lte=play.score_max)
        rows = [
            (contact_id, f"touchpoint:{pk}", min(when, now))
            for contact_id, pk, when in found.values_list("contact_id", "pk", "occurred_at")
        ]
        _runs_bulk_insert(play=play, rows=rows, now=now)
        keys_by_play[play.pk] = [key for _, key, _ in rows]
    return _open_run_ids(keys_by_play)


def _runs_for_loyalty_events(*, trigger: str, rows_for: Any, now: dt.datetime) -> list[int]:
    """Runs of the active plays of a loyalty trigger; `rows_for(play)` gives (contact_id, key, when) of fresh events."""
    plays = list(Play.objects.filter(status=PlayStatus.ACTIVE, trigger_type=trigger))
    keys_by_play: dict[int, list[str]] = {}
    for play in plays:
        rows = [(contact_id, key, min(when, now)) for contact_id, key, when in rows_for(play)]
        _runs_bulk_insert(play=play, rows=rows, now=now)
        keys_by_play[play.pk] = [key for _, key, _ in rows]
    return _open_run_ids(keys_by_play)


def runs_create_for_tier_changes(*, change_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Runs of tier-entry plays for these tier changes (announced and recent only: never backfilled history)."""
    now = now or timezone.now()
    found = TierChange.objects.filter(pk__in=list(change_ids), announced=True, effective_at__gte=now - _event_max_age())

    def rows_for(play: Play) -> list[tuple[int, str, dt.datetime]]:
        return [
            (contact_id, f"tier_change:{pk}", when)
            for contact_id, pk, when in found.filter(to_tier_id=play.trigger_tier_id).values_list(
                "member__contact_id", "pk", "effective_at"
            )
        ]

    return _runs_for_loyalty_events(trigger=TriggerType.TIER_ENTERED, rows_for=rows_for, now=now) if change_ids else []


def runs_create_for_redemptions(*, redemption_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Runs of reward-redeemed plays for these redemptions (recent ones only)."""
    now = now or timezone.now()
    found = Redemption.objects.filter(pk__in=list(redemption_ids), created_at__gte=now - _event_max_age())

    def rows_for(play: Play) -> list[tuple[int, str, dt.datetime]]:
        rows = found.values_list("member__contact_id", "pk", "created_at")
        return [(contact_id, f"redemption:{pk}", when) for contact_id, pk, when in rows]

    return (
        _runs_for_loyalty_events(trigger=TriggerType.REWARD_REDEEMED, rows_for=rows_for, now=now)
        if redemption_ids
        else []
    )


def runs_create_for_referrals(*, referral_ids: Sequence[int], now: dt.datetime | None = None) -> list[int]:
    """Runs of referral-converted plays for the referrers of these converted referrals (recent purchases only)."""
    now = now or timezone.now()
    found = Referral.objects.filter(
        pk__in=list(referral_ids), status=ReferralStatus.PURCHASED, purchased_at__gte=now - _event_max_age()
    )

    def rows_for(play: Play) -> list[tuple[int, str, dt.datetime]]:
        rows = found.values_list("referrer_id", "pk", "purchased_at")
        return [(contact_id, f"referral:{pk}", when) for contact_id, pk, when in rows]

    return (
        _runs_for_loyalty_events(trigger=TriggerType.REFERRAL_CONVERTED, rows_for=rows_for, now=now)
        if referral_ids
        else []
    )


def _open_run_ids(keys_by_play: dict[int, list[str]]) -> list[int]:
    condition = Q(pk__in=[])
    for play_id, keys in keys_by_play.items():
        if keys:
            condition |= Q(play_id=play_id, occurrence_key__in=keys)
    return list(
        PlayRun.objects.filter(condition, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list(
            "pk", flat=True
        )
    )


# --- the periodic scan ------------------------------------------------------------------------


@dataclass
class ScanResult:
    """What one scan did: runs created per play id, and runs handed to workers."""

    created: dict[int, int] = field(default_factory=dict)
    dispatched: int = 0
    seconds: float = 0.0


def _due_query(*, play: Play, since: dt.datetime, now: dt.datetime) -> QuerySet:
    """Rows (contact_id as `_contact`, occurrence key as `_key`) that became due in (since, now] for a scanned play."""
    if play.trigger_type == TriggerType.SILENCE:
        span = dt.timedelta(days=play.silence_days)
        breaking = Touchpoint.objects.filter(contact_id=OuterRef("contact_id"), occurred_at__gt=OuterRef("occurred_at"))
        if play.quiet_kinds:
            breaking = breaking.filter(kind__in=[*play.quiet_kinds, play.trigger_kind])
        else:
            breaking = breaking.filter(Q(kind=play.trigger_kind) | ~Q(source=TouchpointSource.SYSTEM))
        return (
            Touchpoint.objects.filter(kind=play.trigger_kind, occurred_at__gt=since - span, occurred_at__lte=now - span)
            .filter(~Exists(breaking))
            .annotate(_contact=F("contact_id"), _key=Concat(Value("after:"), Cast("id", CharField())))
        )
    if play.trigger_type == TriggerType.ANNIVERSARY:
        years = play.anniversary_years
        earlier = Touchpoint.objects.filter(
            contact_id=OuterRef("contact_id"), kind=TouchpointKind.PURCHASE, occurred_at__lt=OuterRef("occurred_at")
        )
        return (
            Touchpoint.objects.filter(
                kind=TouchpointKind.PURCHASE,
                occurred_at__gt=add_years(since, -years),
                occurred_at__lte=add_years(now, -years),
            )
            .filter(~Exists(earlier))
            .annotate(_contact=F("contact_id"), _key=Value(f"anniversary:{years}y"))
        )
    if play.trigger_type == TriggerType.P_ALIVE_BELOW:
        # One occurrence per "slipping away after the last purchase": a new purchase starts a new one.
        last = Coalesce(Cast(TruncDate("last_purchase_at"), CharField()), Value("never"))
        return ContactMetrics.objects.filter(
            p_alive__lt=play.p_alive_threshold, computed_at__gt=since, computed_at__lte=now
        ).annotate(_contact=F("contact_id"), _key=Concat(Value("p_alive:"), last))
    raise ValueError(f"{play.trigger_type} is not a scanned trigger")


def _insert_due_runs(*, play: Play, since: dt.datetime, now: dt.datetime) -> int:
    """One INSERT … SELECT … ON CONFLICT DO NOTHING writing the runs that became due; returns how many were new.

    Raw SQL around the ORM's SELECT because Django has no INSERT … SELECT; the same
    statement runs on PostgreSQL and SQLite (both support ON CONFLICT DO NOTHING).
    """
    select = (
        _due_query(play=play, since=since, now=now)
        .annotate(
            _play=Value(play.pk),
            _triggered=Value(now, output_field=DateTimeField()),
            _due=Value(now + play.delay, output_field=DateTimeField()),
            _status=Value(RunStatus.PENDING.value),
            _acted=Value(False),
            _note=Value(""),
            _created=Value(now, output_field=DateTimeField()),
        )
        .order_by()
        .values("_play", "_contact", "_key", "_triggered", "_due", "_status", "_acted", "_note", "_created")
    )
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(PlayRun._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(name)
        for name in (
            "play_id",
            "contact_id",
            "occurrence_key",
            "triggered_at",
            "due_at",
            "status",
            "acted",
            "note",
            "created_at",
        )
    )
    with connection.cursor() as cursor:
        # The SELECT always has a WHERE clause, which SQLite needs to parse the ON CONFLICT of an INSERT … SELECT.
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql} ON CONFLICT DO NOTHING", params)
        return max(cursor.rowcount, 0)


def play_scan(*, play_id: int, now: dt.datetime | None = None) -> int:
    """Scan one time-based play from its watermark to `now`; return the number of new runs.

    The play row is locked (SKIP LOCKED) so two overlapping scans never scan the same play
    at once; the watermark moves in the same transaction as the inserts.
    """
    now = now or timezone.now()
    with transaction.atomic():
        play = (
            Play.objects.select_for_update(skip_locked=True)
            .filter(pk=play_id, status=PlayStatus.ACTIVE, trigger_type__in=SCANNED_TRIGGERS)
            .first()
        )
        if play is None:
            return 0
        since = play.scanned_until or now - _initial_lookback()
        if since >= now:
            return 0
        created = _insert_due_runs(play=play, since=since, now=now)
        Play.objects.filter(pk=play.pk).update(scanned_until=now)
    return created


def due_run_ids(*, now: dt.datetime | None = None, limit: int | None = None) -> list[int]:
    """Runs whose delay has passed and that no live worker holds: pending ones and stale claims."""
    now = now or timezone.now()
    qs = (
        PlayRun.objects.filter(due_at__lte=now)
        .filter(Q(status=RunStatus.PENDING) | Q(status=RunStatus.RUNNING, claimed_at__lt=now - _stale_claim()))
        .filter(play__status=PlayStatus.ACTIVE)
        .order_by("due_at")
        .values_list("pk", flat=True)
    )
    return list(qs[:limit] if limit else qs)
