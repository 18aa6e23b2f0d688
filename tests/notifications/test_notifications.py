"""In-app notifications with a bell, and the same by email for those who opt in (issue 21).

Only new, current facts are told: a rule's move of my contact now, my import finishing, my task due today;
never an imported history, a move by myself, or a move that has since been undone.
"""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from contacts.models import ImportJob, ImportStatus
from notifications.models import Notification, NotificationPreference
from notifications.services import (
    notifications_for_due_tasks,
    notifications_for_import,
    notifications_for_transitions,
)
from plays.models import Task
from stages.models import StageTransition
from tests.factories import ContactFactory, stage
from tests.web.conftest import login

pytestmark = pytest.mark.django_db


def _move(contact, to, *, source="rule", user=None, effective_at=None):
    to_stage = stage(to)
    transition = StageTransition.objects.create(
        contact=contact,
        from_stage=contact.stage,
        to_stage=to_stage,
        effective_at=effective_at or timezone.now(),
        source=source,
        user=user,
        note="moved by hand" if source == "manual" else "",
    )
    contact.stage = to_stage
    contact.save(update_fields=["stage"])
    return transition


def test_a_rule_moving_my_contact_rings_the_bell(rep):
    contact = ContactFactory(owner=rep, first_name="Ada", last_name="Byron")
    move = _move(contact, "consideration")
    assert notifications_for_transitions(transition_ids=[move.pk]) == 1
    note = Notification.objects.get()
    assert (note.user, note.kind, note.text) == (rep, "stage_changed", "Ada Byron moved to Consideration.")
    assert notifications_for_transitions(transition_ids=[move.pk]) == 0  # a retried task tells once
    html = login(rep).get(reverse("web:contact_list")).content.decode()
    assert 'class="bell-count">1<' in html


def test_imported_history_my_own_moves_and_undone_moves_are_not_news(rep):
    contact = ContactFactory(owner=rep)
    imported = _move(contact, "purchase", source="import")
    old = _move(contact, "retention", effective_at=timezone.now() - dt.timedelta(days=40))
    mine = _move(contact, "loyalty", source="manual", user=rep)
    gone = _move(contact, "advocacy")
    _move(contact, "at_risk")  # the advocacy move is no longer true
    assert notifications_for_transitions(transition_ids=[imported.pk, old.pk, mine.pk, gone.pk]) == 0
    assert not Notification.objects.exists()


def test_the_engine_announcing_moves_notifies_through_the_task(rep, django_capture_on_commit_callbacks):
    from stages.services import contact_move_stage

    contact = ContactFactory(owner=rep)
    admin_move_user = ContactFactory(email="x@example.com").owner  # None: a move by nobody in particular
    with django_capture_on_commit_callbacks(execute=True):
        contact_move_stage(
            contact=contact, stage=stage("consideration"), reason="Asked for a demo", user=admin_move_user
        )
    assert Notification.objects.filter(user=rep, kind="stage_changed").count() == 1


def test_my_import_finishing_is_told_once_and_emailed_when_i_opted_in(marketer):
    marketer.email = "m@example.com"
    marketer.save()
    NotificationPreference.objects.create(user=marketer, email=True)
    job = ImportJob.objects.create(
        kind="contacts",
        file_name="fair.csv",
        content="",
        created_by=marketer,
        status=ImportStatus.DONE,
        created_count=12,
        rejected_count=1,
    )
    from django.db import transaction

    with transaction.atomic():
        assert notifications_for_import(job_id=job.pk) == 1
    assert Notification.objects.get().text == "Import of fair.csv finished: 12 new, 0 updated, 1 rejected."


def test_emails_go_only_to_those_who_opted_in_and_only_once(rep, django_capture_on_commit_callbacks):
    rep.email = "rep@example.com"
    rep.save()
    contact = ContactFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        notifications_for_transitions(transition_ids=[_move(contact, "consideration").pk])
    assert mail.outbox == []  # not opted in
    login(rep).post(reverse("web:notification_preference"), {"email": "on"})
    with django_capture_on_commit_callbacks(execute=True):
        notifications_for_transitions(transition_ids=[_move(contact, "purchase").pk])
    assert len(mail.outbox) == 1 and "moved to Purchase" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        notifications_for_transitions(transition_ids=list(StageTransition.objects.values_list("pk", flat=True)))
    assert len(mail.outbox) == 1


def test_a_task_due_today_is_told_once_and_the_page_marks_all_read(rep):
    contact = ContactFactory(owner=rep)
    Task.objects.create(owner=rep, contact=contact, title="Call Ada", due_on=timezone.localdate())
    Task.objects.create(owner=rep, contact=contact, title="Later", due_on=timezone.localdate() + dt.timedelta(days=3))
    assert notifications_for_due_tasks() == 1
    assert notifications_for_due_tasks() == 0
    client = login(rep)
    page = client.get(reverse("web:notifications")).content.decode()
    assert "Due today: Call Ada" in page and "Later" not in page
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert 'class="bell-count"' not in client.get(reverse("web:notifications")).content.decode()


def test_the_import_task_announces_the_finish_to_the_bell(marketer, monkeypatch, django_capture_on_commit_callbacks):
    from contacts import tasks

    job = ImportJob.objects.create(kind="contacts", file_name="a.csv", content="", created_by=marketer)

    def finish(*, job_id):
        ImportJob.objects.filter(pk=job_id).update(status=ImportStatus.DONE, finished_at=timezone.now())
        return ImportJob.objects.get(pk=job_id)

    monkeypatch.setattr("contacts.tasks.import_run", finish)
    with django_capture_on_commit_callbacks(execute=True):  # the bell's task is an outbox row, run after commit
        tasks.import_run_task(job.pk)
    assert Notification.objects.get(user=marketer).kind == "import_finished"
