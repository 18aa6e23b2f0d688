"""Executing play runs: claiming them, checking their condition for the batch, running their actions.

A run is executed by whoever claims it first (a conditional UPDATE under SKIP LOCKED), its
condition is checked set-based for the whole batch, then each action runs for the batch
(plays.actions).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from contacts.filters import ContactFilterSet, filters_to_querydict
from contacts.models import Contact
from plays.actions import _HANDLERS, _Outcome, _send_emails
from plays.models import (
    ActionLog,
    ActionStatus,
    ActionType,
    Play,
    PlayAction,
    PlayRun,
    RunStatus,
)
from plays.triggers import _stale_claim

logger = logging.getLogger(__name__)

# --- executing runs ---------------------------------------------------------------------------


@dataclass
class ExecuteResult:
    """What one execution did: runs claimed, finished as done or skipped, and actions carried out."""

    claimed: int = 0
    done: int = 0
    skipped: int = 0
    actions_sent: int = 0


def _claim(*, run_ids: Sequence[int], now: dt.datetime) -> list[PlayRun]:
    """Claim due runs for this worker: SELECT … FOR UPDATE SKIP LOCKED, then mark them running.

    A run another worker holds (locked or freshly claimed) is not returned, so two workers
    given the same ids never both act; a claim older than PLAYS_STALE_CLAIM_SECONDS is a
    dead worker's and may be taken over.
    """
    with transaction.atomic():
        ids = list(
            PlayRun.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(run_ids), due_at__lte=now)
            .filter(Q(status=RunStatus.PENDING) | Q(status=RunStatus.RUNNING, claimed_at__lt=now - _stale_claim()))
            .values_list("pk", flat=True)
        )
        if ids:
            PlayRun.objects.filter(pk__in=ids).update(status=RunStatus.RUNNING, claimed_at=now)
    return list(PlayRun.objects.filter(pk__in=ids).select_related("play").order_by("pk"))


def _finish(*, runs: Sequence[PlayRun], status: str, note: str, now: dt.datetime) -> None:
    if runs:
        PlayRun.objects.filter(pk__in=[r.pk for r in runs]).update(status=status, note=note, finished_at=now)


def _condition_failures(*, play: Play, contact_ids: set[int]) -> dict[int, str]:
    """Contacts (of these) that fail the play's condition, with the reason; checked set-based."""
    failures: dict[int, str] = {}
    base = Contact.objects.filter(pk__in=contact_ids)
    if play.condition_stage_id:
        inside = set(base.filter(stage_id=play.condition_stage_id).values_list("pk", flat=True))
        for cid in contact_ids - inside:
            failures.setdefault(cid, f"condition: not in stage {play.condition_stage.slug}")
    if play.condition_consent:
        consenting = set(base.filter(marketing_consent=True, unsubscribed_at__isnull=True).values_list("pk", flat=True))
        for cid in contact_ids - consenting:
            failures.setdefault(cid, "condition: no marketing consent")
    if play.condition_segment_id:
        segment = play.condition_segment

        filterset = ContactFilterSet(filters_to_querydict(segment.filters), queryset=base, user=None)
        if not filterset.is_valid():
            return {cid: f"condition: segment {segment.name!r} has invalid filters" for cid in contact_ids}
        inside = set(filterset.qs.values_list("pk", flat=True))
        for cid in contact_ids - inside:
            failures.setdefault(cid, f"condition: not in segment {segment.name}")
    return failures


def play_runs_execute(*, run_ids: Sequence[int], now: dt.datetime | None = None) -> ExecuteResult:
    """Execute these runs if they are due and unclaimed: condition, then each action in order, then finish.

    Safe to call twice with the same ids, from two workers at once, or after a crash
    midway: claiming and the unique ActionLog per (run, action) make every action happen
    at most once.
    """
    now = now or timezone.now()
    result = ExecuteResult()
    runs = _claim(run_ids=run_ids, now=now)
    result.claimed = len(runs)
    by_play: dict[int, list[PlayRun]] = defaultdict(list)
    for run in runs:
        by_play[run.play_id].append(run)
    for play_runs in by_play.values():
        play = play_runs[0].play
        if not play.is_active:
            _finish(runs=play_runs, status=RunStatus.SKIPPED, note="play paused", now=now)
            result.skipped += len(play_runs)
            continue
        failures = _condition_failures(play=play, contact_ids={r.contact_id for r in play_runs})
        by_reason: dict[str, list[PlayRun]] = defaultdict(list)
        eligible = []
        for run in play_runs:
            if run.contact_id in failures:
                by_reason[failures[run.contact_id]].append(run)
            else:
                eligible.append(run)
        for reason, skipped in by_reason.items():
            _finish(runs=skipped, status=RunStatus.SKIPPED, note=reason, now=now)
            result.skipped += len(skipped)
        if not eligible:
            continue
        contacts = Contact.objects.select_related("stage", "owner", "metrics").in_bulk({r.contact_id for r in eligible})
        for action in play.actions.select_related("tag", "campaign", "stage").order_by("position", "id"):
            result.actions_sent += _action_execute(play=play, action=action, runs=eligible, contacts=contacts, now=now)
        PlayRun.objects.filter(pk__in=[r.pk for r in eligible]).update(
            status=RunStatus.DONE,
            finished_at=now,
            acted=Exists(ActionLog.objects.filter(run_id=OuterRef("pk"), status=ActionStatus.SENT)),
        )
        result.done += len(eligible)
    return result


def _action_execute(
    *, play: Play, action: PlayAction, runs: list[PlayRun], contacts: dict[int, Contact], now: dt.datetime
) -> int:
    """Run one action for the runs that have not done it yet; return how many were carried out."""
    already = set(ActionLog.objects.filter(run__in=runs, action=action).values_list("run_id", flat=True))
    todo = [r for r in runs if r.pk not in already]
    if not todo:
        return 0
    if action.action_type == ActionType.SEND_EMAIL:
        return _send_emails(play=play, action=action, runs=todo, contacts=contacts, now=now)
    handler = _HANDLERS[action.action_type]
    try:
        with transaction.atomic():
            outcomes = handler(play=play, action=action, runs=todo, contacts=contacts, now=now)
            _log(action=action, outcomes=outcomes, now=now)
    except Exception as exc:  # one broken action must not stop the others; the failure is logged per contact
        logger.exception("Play %s action %s failed", play.pk, action.pk)
        outcomes = [_Outcome(r, ActionStatus.FAILED, f"{type(exc).__name__}: {exc}"[:500]) for r in todo]
        _log(action=action, outcomes=outcomes, now=now)
    return sum(1 for o in outcomes if o.status == ActionStatus.SENT)


def _log(*, action: PlayAction, outcomes: list[_Outcome], now: dt.datetime) -> None:
    ActionLog.objects.bulk_create(
        [
            ActionLog(
                run=o.run,
                action=action,
                contact_id=o.run.contact_id,
                action_type=action.action_type,
                status=o.status,
                detail=o.detail,
                created_at=now,
            )
            for o in outcomes
        ],
        ignore_conflicts=True,
    )
