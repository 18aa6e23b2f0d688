"""The actions a play runs for a batch of runs: tags, campaign enrolment, tasks, webhooks, stage moves, emails.

Each handler works set-based for the batch where it can (one statement for tags, enrolments and
tasks) and per contact where one message or one transition each is the point; every outcome is an
ActionLog row, unique per (run, action), so a retried task skips what already happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import CampaignMember
from contacts.models import Contact, TouchpointKind, TouchpointSource
from contacts.touchpoint_services import touchpoint_bulk_create
from plays import rendering
from plays.hooks import webhook_publisher
from plays.models import (
    ActionLog,
    ActionStatus,
    ActionType,
    Play,
    PlayAction,
    PlayRun,
    Task,
)
from plays.triggers import PLAY_TOUCHPOINT_PREFIX
from stages.services import contact_move_stage

logger = logging.getLogger(__name__)

EMAIL_CAP_WINDOW = dt.timedelta(days=7)


def email_cap_per_week() -> int:
    """Most play emails one contact may receive in any 7 days (setting PLAYS_EMAIL_CAP_PER_WEEK)."""
    return int(getattr(settings, "PLAYS_EMAIL_CAP_PER_WEEK", 3))


@dataclass(frozen=True)
class _Outcome:
    run: PlayRun
    status: str
    detail: str


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
    publisher = webhook_publisher()
    return None if publisher is None else sorted(publisher.contact_events())


def _webhook_fire(*, play, action, runs, contacts, now) -> list[_Outcome]:
    """Publish a webhook event about these contacts through the webhooks app (one call for the batch).

    Only events whose payload objects are contacts make sense here (the webhooks app names
    the objects of each event in `BUILDERS`); another event is refused per run with the reason.
    """
    publisher = webhook_publisher()
    if publisher is None:
        return [_Outcome(r, ActionStatus.SKIPPED, "webhooks not installed") for r in runs]
    contact_events = sorted(publisher.contact_events())
    event = action.webhook_event
    if event not in contact_events:
        detail = f"webhook event {event!r} does not carry contacts (one of: {', '.join(contact_events) or 'none'})"
        return [_Outcome(r, ActionStatus.FAILED, detail) for r in runs]
    deliveries = publisher.publish(event=event, object_ids=sorted({r.contact_id for r in runs}))
    if not deliveries:
        return [_Outcome(r, ActionStatus.SKIPPED, f"no active webhook subscription to {event}") for r in runs]
    return [_Outcome(r, ActionStatus.SENT, f"webhook event {event} published") for r in runs]


def _stage_move(*, play, action, runs, contacts, now) -> list[_Outcome]:
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
