"""Issue 17: replays are exact.

A random history is ingested day by day in real time (time-machine: each contact created and
each touchpoint pushed at the moment it happens, the nightly run at each day's end). Then the
database is wiped, the same history is imported at once, and `recompute_lifecycle --as-of` is
run for every day. Both end with identical stage histories (effective times), daily snapshots
and metrics, and only the real-time run sent anything. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from contacts.models import Contact
from contacts.services import contact_create
from contacts.touchpoint_services import touchpoint_bulk_create, touchpoint_create
from metrics.models import ContactMetrics
from plays.models import ActionLog, Play, PlayRun, PlayStatus, Task
from stages.engine_base import evaluation_times
from stages.models import StageRule, StageSnapshot, StageTransition
from stages.services import lifecycle_recompute

pytestmark = pytest.mark.django_db(transaction=True)

START = dt.date(2026, 1, 5)
DAYS = 110
KINDS = ["email_open", "site_visit", "quote_request", "purchase", "purchase"]


def _short_rules() -> None:
    """The default rules with short silences, so a short history walks through lapses and win-backs."""
    for name, days in (("Silent for 180 days", 20), ("Silent for a year", 45)):
        rule = StageRule.objects.get(name=name)
        rule.conditions = [{"metric": "days_since_last_purchase", "op": ">=", "value": days, "params": {}}]
        rule.save()
    rule = StageRule.objects.get(name="Repeat purchase within a year")
    rule.conditions = [{"metric": "purchases", "op": ">=", "value": 2, "params": {"days": 60}}]
    rule.save()


def _history(seed: int) -> tuple[list[dict], list[dict]]:
    """Contacts (acquired in the first weeks) and their touchpoints: at most one per contact and day."""
    rng = random.Random(seed)
    contacts, touches = [], []
    for i in range(6):
        day = START + dt.timedelta(days=rng.randrange(0, 15))
        acquired = dt.datetime.combine(day, dt.time(7, rng.randrange(60)), tzinfo=dt.UTC)
        contacts.append({"email": f"c{i}@example.com", "acquired_at": acquired, "marketing_consent": True})
        for offset in range(1, DAYS):
            touch_day = day + dt.timedelta(days=offset)
            if touch_day >= START + dt.timedelta(days=DAYS) or rng.random() > 0.08:
                continue
            when = dt.datetime.combine(touch_day, dt.time(rng.randrange(8, 20), rng.randrange(60)), tzinfo=dt.UTC)
            kind = rng.choice(KINDS)
            touches.append(
                {
                    "email": f"c{i}@example.com",
                    "kind": kind,
                    "occurred_at": when,
                    "amount": f"{rng.randrange(10, 90)}.00" if kind == "purchase" else None,
                    "external_id": f"t{len(touches)}",
                }
            )
    return contacts, touches


def _row(touch: dict) -> dict:
    row = {"contact_email": touch["email"], "kind": touch["kind"], "occurred_at": touch["occurred_at"]}
    row["external_id"] = touch["external_id"]
    if touch["amount"] is not None:
        row["amount"] = touch["amount"]
    return row


def _state() -> dict:
    emails = dict(Contact.objects.values_list("pk", "email"))
    histories: dict[str, list] = {}
    for t in StageTransition.objects.order_by("contact_id", "effective_at", "id").select_related(
        "from_stage", "to_stage"
    ):
        histories.setdefault(emails[t.contact_id], []).append(
            (t.from_stage.slug if t.from_stage else None, t.to_stage.slug, t.effective_at, t.is_win_back)
        )
    snapshots = sorted(
        (d.isoformat(), slug, n) for d, slug, n in StageSnapshot.objects.values_list("date", "stage__slug", "contacts")
    )
    metrics = sorted(
        (emails[m[0]], *m[1:])
        for m in ContactMetrics.objects.values_list(
            "contact_id", "purchase_count", "revenue", "refunds", "first_purchase_at", "last_purchase_at"
        )
    )
    stages = sorted(Contact.objects.values_list("email", "stage__slug", "stage_entered_at"))
    return {"histories": histories, "snapshots": snapshots, "metrics": metrics, "stages": stages}


def _sent() -> dict:
    return {
        "mail": len(mail.outbox),
        "runs": PlayRun.objects.count(),
        "tasks": Task.objects.count(),
        "actions": ActionLog.objects.count(),
    }


def _wipe() -> None:
    Contact.objects.all().delete()
    StageSnapshot.objects.all().delete()
    PlayRun.objects.all().delete()
    Task.objects.all().delete()
    ActionLog.objects.all().delete()
    mail.outbox.clear()


def test_a_history_ingested_in_real_time_equals_its_import_and_replay(django_capture_on_commit_callbacks):
    _short_rules()
    Play.objects.update(status=PlayStatus.ACTIVE)
    contacts, touches = _history(seed=17)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]

    # 1. Real time: every fact reaches the system when it happens; the nightly run closes each day.
    for day in days:
        events = [("contact", c["acquired_at"], c) for c in contacts if c["acquired_at"].date() == day]
        events += [("touch", t["occurred_at"], t) for t in touches if t["occurred_at"].date() == day]
        for kind, when, item in sorted(events, key=lambda e: e[1]):
            with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks(execute=True):
                if kind == "contact":
                    contact_create(data=dict(item), source="api")
                else:
                    touchpoint_create(data=_row(item), source="api")
        end_of_day = evaluation_times(as_of=day)[0]
        with time_machine.travel(end_of_day, tick=False), django_capture_on_commit_callbacks(execute=True):
            lifecycle_recompute()
    real_time = _state()
    sent = _sent()
    assert sent["mail"] > 0 and sent["runs"] > 0  # the real-time run did act on news
    assert sum(len(h) for h in real_time["histories"].values()) > 3 * len(contacts)

    # 2. Wipe, import everything at once after the fact, and replay with --as-of for each day.
    _wipe()
    later = dt.datetime.combine(days[-1], dt.time(12), tzinfo=dt.UTC) + dt.timedelta(days=3)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        for item in contacts:
            contact_create(data=dict(item), source="import")
        touchpoint_bulk_create(rows=[_row(t) for t in touches], source="import", max_batch=None, enqueue=False)
        for day in days:
            call_command("recompute_lifecycle", "--as-of", day.isoformat(), "--no-progress", stdout=StringIO())
    replayed = _state()
    assert _sent() == {"mail": 0, "runs": 0, "tasks": 0, "actions": 0}  # only the real-time run sent anything

    assert replayed["histories"] == real_time["histories"]
    assert replayed["snapshots"] == real_time["snapshots"]
    assert replayed["metrics"] == real_time["metrics"]
    assert replayed["stages"] == real_time["stages"]
