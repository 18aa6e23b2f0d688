"""Writes of plays: executing runs and their actions, tasks for reps, unsubscribing, turning plays on and off.

A run is executed by whoever claims it first (a conditional UPDATE under SKIP LOCKED),
its condition is checked set-based for the whole batch, then each action runs for the
batch: tags, campaign enrolment and tasks with one statement each, emails and stage
moves per contact (one message or one transition each is the point). Every outcome is an
ActionLog row, unique per (run, action), so a retried task skips what already happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.roles import Role, user_role
from campaigns.models import CampaignMember
from contacts.models import Contact, TouchpointKind, TouchpointSource
from plays import rendering
from plays.models import (
    SCANNED_TRIGGERS,
    ActionLog,
    ActionStatus,
    ActionType,
    Play,
    PlayAction,
    PlayRun,
    PlayStatus,
    RunStatus,
    Task,
    TaskStatus,
    TriggerType,
)
from plays.triggers import PLAY_TOUCHPOINT_PREFIX, _stale_claim

logger = logging.getLogger(__name__)

EMAIL_CAP_WINDOW = dt.timedelta(days=7)


def email_cap_per_week() -> int:
    """Most play emails one contact may receive in any 7 days (setting PLAYS_EMAIL_CAP_PER_WEEK)."""
    return int(getattr(settings, "PLAYS_EMAIL_CAP_PER_WEEK", 3))


# --- plays ------------------------------------------------------------------------------------


def play_validate(*, play: Play) -> None:
    """Check that the play's trigger has the parameters its type needs; raise ValidationError naming fields.

    The database enforces the same rules as CheckConstraints; this gives admins readable messages.
    """
    errors: dict[str, str] = {}
    kind = play.trigger_type
    if kind == TriggerType.STAGE_ENTERED and not play.trigger_stage_id:
        errors["trigger_stage"] = "A stage-entry play needs the stage."
    if kind in (TriggerType.TOUCHPOINT_LOGGED, TriggerType.SILENCE) and not play.trigger_kind:
        errors["trigger_kind"] = "Choose the touchpoint kind."
    elif play.trigger_kind and play.trigger_kind not in TouchpointKind.values:
        errors["trigger_kind"] = f"{play.trigger_kind!r} is not a touchpoint kind."
    if kind == TriggerType.SILENCE and not (play.silence_days or 0) >= 1:
        errors["silence_days"] = "A silence play needs at least 1 day."
    if kind == TriggerType.SILENCE:
        quiet = play.quiet_kinds or []
        valid = set(TouchpointKind.values)
        if not isinstance(quiet, list) or any(k not in valid for k in quiet):
            errors["quiet_kinds"] = f"A list of touchpoint kinds, from: {', '.join(sorted(valid))}."
    if kind == TriggerType.P_ALIVE_BELOW and not (0 < (play.p_alive_threshold or 0) <= 1):
        errors["p_alive_threshold"] = "A probability between 0 and 1."
    if kind == TriggerType.ANNIVERSARY and not (play.anniversary_years or 0) >= 1:
        errors["anniversary_years"] = "At least 1 year."
    if play.score_min is not None and play.score_max is not None and play.score_min > play.score_max:
        errors["score_min"] = "The minimum score is above the maximum."
    if play.delay is not None and play.delay < dt.timedelta(0):
        errors["delay"] = "A delay cannot be negative."
    if play.goal_window is not None and play.goal_window <= dt.timedelta(0):
        errors["goal_window"] = "The goal window must be positive."
    if errors:
        raise ValidationError(errors)


def play_action_validate(*, action: PlayAction) -> None:
    """Check an action's typed fields and compile its templates; raise ValidationError naming fields."""
    errors: dict[str, str] = {}
    kind = action.action_type
    if kind == ActionType.SEND_EMAIL:
        if not action.subject.strip():
            errors["subject"] = "An email needs a subject."
        if not action.body_text.strip():
            errors["body_text"] = "An email needs a plain-text body."
    if kind == ActionType.CREATE_TASK and not action.task_title.strip():
        errors["task_title"] = "A task needs a title."
    if kind in (ActionType.ADD_TAG, ActionType.REMOVE_TAG) and not action.tag_id:
        errors["tag"] = "Choose the tag."
    if kind == ActionType.ENROL_CAMPAIGN and not action.campaign_id:
        errors["campaign"] = "Choose the campaign."
    if kind == ActionType.FIRE_WEBHOOK:
        events = webhook_contact_events()
        if not action.webhook_event.strip():
            errors["webhook_event"] = "Name the event."
        elif events is not None and action.webhook_event not in events:
            errors["webhook_event"] = f"Choose an event about contacts: {', '.join(events) or 'none available'}."
    if kind == ActionType.MOVE_STAGE:
        if not action.stage_id:
            errors["stage"] = "Choose the stage."
        if not action.reason.strip():
            errors["reason"] = "A move needs a reason."
    for name in ("subject", "body_text", "body_html", "task_title"):
        try:
            rendering.template_validate(source=getattr(action, name), field=name)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def play_set_status(*, play: Play, status: str) -> Play:
    """Activate or pause a play.

    Activating restarts the scan watermark, so a play turned back on acts on what becomes
    due from now on (plus the initial look-back), not on everything it missed while paused.
    """
    if status not in PlayStatus.values:
        raise ValidationError({"status": f"{status!r} is not a play status."})
    play = Play.objects.select_for_update().get(pk=play.pk)
    if play.status != status:
        play.status = status
        if status == PlayStatus.ACTIVE and play.trigger_type in SCANNED_TRIGGERS:
            play.scanned_until = None
        play.save(update_fields=["status", "scanned_until", "updated_at"])
    return play


# --- executing runs ---------------------------------------------------------------------------


@dataclass
class ExecuteResult:
    """What one execution did: runs claimed, finished as done or skipped, and actions carried out."""

    claimed: int = 0
    done: int = 0
    skipped: int = 0
    actions_sent: int = 0


@dataclass(frozen=True)
class _Outcome:
    run: PlayRun
    status: str
    detail: str


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
        from contacts.filters import ContactFilterSet, filters_to_querydict

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


def _tag_add(*, play, action, runs, contacts, now) -> list[_Outcome]:
    through = Contact.tags.through
    wanted = {r.contact_id for r in runs}
    had = set(through.objects.filter(contact_id__in=wanted, tag_id=action.tag_id).values_list("contact_id", flat=True))
    through.objects.bulk_create(
        [through(contact_id=cid, tag_id=action.tag_id) for cid in wanted - had], ignore_conflicts=True
    )
    name = action.tag.name
    return [
        _Outcome(r, ActionStatus.SKIPPED, f"already tagged {name}")
        if r.contact_id in had
        else _Outcome(r, ActionStatus.SENT, f"tagged {name}")
        for r in runs
    ]


def _tag_remove(*, play, action, runs, contacts, now) -> list[_Outcome]:
    through = Contact.tags.through
    wanted = {r.contact_id for r in runs}
    rows = through.objects.filter(contact_id__in=wanted, tag_id=action.tag_id)
    had = set(rows.values_list("contact_id", flat=True))
    rows.delete()
    name = action.tag.name
    return [
        _Outcome(r, ActionStatus.SENT, f"removed tag {name}")
        if r.contact_id in had
        else _Outcome(r, ActionStatus.SKIPPED, f"did not have tag {name}")
        for r in runs
    ]


def _campaign_enrol(*, play, action, runs, contacts, now) -> list[_Outcome]:
    wanted = {r.contact_id for r in runs}
    had = set(
        CampaignMember.objects.filter(campaign_id=action.campaign_id, contact_id__in=wanted).values_list(
            "contact_id", flat=True
        )
    )
    CampaignMember.objects.bulk_create(
        [
            CampaignMember(campaign_id=action.campaign_id, contact_id=cid, enrolled_at=now, source="play")
            for cid in wanted - had
        ],
        ignore_conflicts=True,
    )
    name = action.campaign.name
    return [
        _Outcome(r, ActionStatus.SKIPPED, f"already in campaign {name}")
        if r.contact_id in had
        else _Outcome(r, ActionStatus.SENT, f"enrolled in campaign {name}")
        for r in runs
    ]


def _task_create(*, play, action, runs, contacts, now) -> list[_Outcome]:
    outcomes, tasks = [], []
    due_on = timezone.localdate(now) + dt.timedelta(days=action.task_due_days)
    for run in runs:
        contact = contacts.get(run.contact_id)
        if contact is None or contact.owner_id is None:
            outcomes.append(_Outcome(run, ActionStatus.SKIPPED, "no owner"))
            continue
        title = rendering.render_text(source=action.task_title, context={"contact": contact, "stage": contact.stage})
        tasks.append(
            Task(
                owner_id=contact.owner_id,
                contact_id=contact.pk,
                run=run,
                title=" ".join(title.split())[:200] or action.task_title[:200],
                description=f"From the play “{play.name}”.",
                due_on=due_on,
                created_at=now,
            )
        )
        outcomes.append(_Outcome(run, ActionStatus.SENT, f"task for {contact.owner} due {due_on:%Y-%m-%d}"))
    Task.objects.bulk_create(tasks)
    return outcomes


def webhook_contact_events() -> list[str] | None:
    """Webhook events whose payload objects are contacts (what a play can publish), or None without webhooks."""
    try:
        from webhooks import services as webhook_services
    except ImportError:
        return None
    if not apps.is_installed("webhooks") or not hasattr(webhook_services, "webhook_event_publish"):
        return None
    return sorted(name for name, (key, _) in getattr(webhook_services, "BUILDERS", {}).items() if key == "contacts")


def _webhook_fire(*, play, action, runs, contacts, now) -> list[_Outcome]:
    """Publish a webhook event about these contacts through the webhooks app (one call for the batch).

    Only events whose payload objects are contacts make sense here (the webhooks app names
    the objects of each event in `BUILDERS`); another event is refused per run with the reason.
    """
    contact_events = webhook_contact_events()
    if contact_events is None:
        return [_Outcome(r, ActionStatus.SKIPPED, "webhooks not installed") for r in runs]
    from webhooks.services import webhook_event_publish

    event = action.webhook_event
    if event not in contact_events:
        detail = f"webhook event {event!r} does not carry contacts (one of: {', '.join(contact_events) or 'none'})"
        return [_Outcome(r, ActionStatus.FAILED, detail) for r in runs]
    deliveries = webhook_event_publish(event=event, object_ids=sorted({r.contact_id for r in runs}))
    if not deliveries:
        return [_Outcome(r, ActionStatus.SKIPPED, f"no active webhook subscription to {event}") for r in runs]
    return [_Outcome(r, ActionStatus.SENT, f"webhook event {event} published") for r in runs]


def _stage_move(*, play, action, runs, contacts, now) -> list[_Outcome]:
    try:
        from stages.services import contact_move_stage
    except ImportError:
        return [_Outcome(r, ActionStatus.FAILED, "stages.services.contact_move_stage is not available") for r in runs]
    outcomes = []
    for run in runs:
        contact = contacts[run.contact_id]
        current = Contact.objects.filter(pk=contact.pk).values_list("stage_id", flat=True).first()
        if current == action.stage_id:
            outcomes.append(_Outcome(run, ActionStatus.SKIPPED, f"already in {action.stage.slug}"))
            continue
        try:
            with transaction.atomic():
                contact.refresh_from_db()
                contact_move_stage(
                    contact=contact, stage=action.stage, reason=f"{action.reason} (play: {play.name})", source="play"
                )
            outcomes.append(_Outcome(run, ActionStatus.SENT, f"moved to {action.stage.slug}"))
        except ValidationError as exc:
            outcomes.append(_Outcome(run, ActionStatus.FAILED, "; ".join(exc.messages)[:500]))
    return outcomes


_HANDLERS = {
    ActionType.ADD_TAG: _tag_add,
    ActionType.REMOVE_TAG: _tag_remove,
    ActionType.ENROL_CAMPAIGN: _campaign_enrol,
    ActionType.CREATE_TASK: _task_create,
    ActionType.FIRE_WEBHOOK: _webhook_fire,
    ActionType.MOVE_STAGE: _stage_move,
}


def _log_one(*, run: PlayRun, action: PlayAction, status: str, detail: str, now: dt.datetime) -> ActionLog | None:
    try:
        with transaction.atomic():
            return ActionLog.objects.create(
                run=run,
                action=action,
                contact_id=run.contact_id,
                action_type=action.action_type,
                status=status,
                detail=detail[:1000],
                created_at=now,
            )
    except IntegrityError:  # logged by an earlier attempt of this run
        return None


def _send_emails(
    *, play: Play, action: PlayAction, runs: list[PlayRun], contacts: dict[int, Contact], now: dt.datetime
) -> int:
    """Send one email per run, respecting consent, unsubscribe and the weekly cap; log each as a touchpoint.

    Each send holds a lock on the contact row while it counts the week's emails, logs and
    sends, so two plays emailing the same contact at once cannot both slip under the cap.
    """
    from contacts.services import touchpoint_bulk_create

    cap = email_cap_per_week()
    sent: list[tuple[ActionLog, str]] = []
    connection = get_connection(fail_silently=False)
    try:
        for run in runs:
            contact = contacts[run.contact_id]
            try:
                message = rendering.email_render(action=action, contact=contact, play=play)
            except Exception as exc:  # a template that compiles may still fail on a value
                _log_one(run=run, action=action, status=ActionStatus.FAILED, detail=f"template: {exc}", now=now)
                continue
            try:
                with transaction.atomic():
                    locked = (
                        Contact.objects.select_for_update()
                        .only("pk", "email", "marketing_consent", "unsubscribed_at")
                        .get(pk=contact.pk)
                    )
                    reason = ""
                    if locked.unsubscribed_at is not None:
                        reason = f"unsubscribed on {locked.unsubscribed_at:%Y-%m-%d}"
                    elif not locked.marketing_consent:
                        reason = "no marketing consent"
                    else:
                        recent = ActionLog.objects.filter(
                            contact_id=contact.pk,
                            action_type=ActionType.SEND_EMAIL,
                            status=ActionStatus.SENT,
                            created_at__gt=now - EMAIL_CAP_WINDOW,
                        ).count()
                        if recent >= cap:
                            reason = f"frequency cap: {recent} emails in the last 7 days (cap {cap})"
                    if reason:
                        _log_one(run=run, action=action, status=ActionStatus.SKIPPED, detail=reason, now=now)
                        continue
                    log = ActionLog.objects.create(
                        run=run,
                        action=action,
                        contact_id=contact.pk,
                        action_type=action.action_type,
                        status=ActionStatus.SENT,
                        detail=f"to {locked.email}: {message.subject}"[:1000],
                        created_at=now,
                    )
                    email = EmailMultiAlternatives(
                        subject=message.subject,
                        body=message.text,
                        to=[locked.email],
                        connection=connection,
                        headers={
                            "List-Unsubscribe": f"<{rendering.unsubscribe_url(contact_id=contact.pk)}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                        },
                    )
                    if message.html:
                        email.attach_alternative(message.html, "text/html")
                    email.send()
                    sent.append((log, message.subject))
            except IntegrityError:
                continue  # this run's email was already logged by an earlier attempt
            except Exception as exc:  # SMTP and connection errors: logged as failed, the run goes on
                logger.warning("Play %s email to contact %s failed: %s", play.pk, contact.pk, exc)
                _log_one(
                    run=run, action=action, status=ActionStatus.FAILED, detail=f"{type(exc).__name__}: {exc}", now=now
                )
    finally:
        connection.close()
    if sent:
        try:
            touchpoint_bulk_create(
                rows=[
                    {
                        "contact": log.contact_id,
                        "kind": TouchpointKind.EMAIL_SENT,
                        "channel": "email",
                        "occurred_at": now,
                        "external_id": f"{PLAY_TOUCHPOINT_PREFIX}email-{log.pk}",
                        "note": f"{play.name}: {subject}"[:10000],
                    }
                    for log, subject in sent
                ],
                source=TouchpointSource.SYSTEM,
                max_batch=None,
            )
        except ValidationError:
            logger.exception("Could not log email_sent touchpoints for play %s", play.pk)
    return len(sent)


# --- tasks for reps ---------------------------------------------------------------------------


def _may_manage_task(*, task: Task, user: Any) -> bool:
    return task.owner_id == getattr(user, "pk", None) or user_role(user) == Role.ADMIN


@transaction.atomic
def task_complete(*, task: Task, user: Any, outcome: str) -> Task:
    """Mark a task done with its outcome and log a `task_completed` touchpoint on the contact's timeline.

    Only the task's owner (or an admin) may complete it; completing twice is refused.
    """
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValidationError({"outcome": "Say what came of it."})
    if len(outcome) > 2000:
        raise ValidationError({"outcome": "At most 2,000 characters."})
    task = Task.objects.select_for_update().get(pk=task.pk)
    if not _may_manage_task(task=task, user=user):
        raise ValidationError({"task": "Only the task's owner can complete it."})
    if task.status != TaskStatus.OPEN:
        raise ValidationError({"task": "This task is already closed."})
    now = timezone.now()
    task.status = TaskStatus.DONE
    task.outcome = outcome
    task.completed_at = now
    task.save(update_fields=["status", "outcome", "completed_at"])
    from contacts.services import touchpoint_create

    touchpoint_create(
        data={
            "contact": task.contact_id,
            "kind": TouchpointKind.TASK_COMPLETED,
            "channel": "other",
            "occurred_at": now,
            "external_id": f"task-{task.pk}",
            "note": f"{task.title}: {outcome}"[:10000],
        },
        source=TouchpointSource.MANUAL,
        logged_by=user,
    )
    return task


@transaction.atomic
def task_create(*, owner: Any, contact: Contact, title: str, due_on: dt.date, description: str = "") -> Task:
    """Create a task by hand for a rep about a contact."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A task needs a title."})
    return Task.objects.create(owner=owner, contact=contact, title=title[:200], due_on=due_on, description=description)


# --- unsubscribe ------------------------------------------------------------------------------


@transaction.atomic
def contact_unsubscribe(*, contact_id: int) -> Contact:
    """Withdraw a contact's marketing consent from an email link and log an `unsubscribe` touchpoint.

    Idempotent: a second click changes nothing and logs nothing more.
    """
    from contacts.services import contact_update, touchpoint_create

    contact = Contact.objects.select_for_update().get(pk=contact_id)
    if contact.unsubscribed_at is not None and not contact.marketing_consent:
        return contact
    now = timezone.now()
    contact.unsubscribed_at = now  # saved by contact_update together with the consent change
    contact = contact_update(contact=contact, data={"marketing_consent": False})
    touchpoint_create(
        data={
            "contact": contact.pk,
            "kind": TouchpointKind.UNSUBSCRIBE,
            "channel": "email",
            "occurred_at": now,
            "external_id": f"unsubscribe-{contact.pk}-{int(now.timestamp())}",
            "note": "Unsubscribed from a play email link.",
        },
        source=TouchpointSource.SYSTEM,
    )
    return contact
