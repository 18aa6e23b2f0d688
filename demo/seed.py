"""Believable demo data: two years of customer journeys, generated deterministically from a seed.

Used by `python manage.py seed_demo --contacts N --seed S`. Every random draw comes from
one `numpy.random.Generator` seeded with S, and every date is an offset from a
reference date (`end_date`, by default today in UTC) — so the same seed and the same
end date give exactly the same contacts, touchpoints and stage history.

How a journey is drawn:
- a contact arrives on a day of the two years (more in recent months, as a growing
  business), through an acquisition channel; paid channels are credited to the campaign
  of that channel running that day;
- most engage (site visits, email opens and clicks, downloads, webinars, chats), some
  consider (demo, quote, trial, abandoned cart; a sales rep calls B2B leads), some buy;
- buyers then repeat by a buy-till-you-die process (BG/NBD): each has a Poisson purchase
  rate drawn from a gamma distribution and, after every purchase, a chance drawn from a
  beta distribution of dropping out for good; spend per order follows a gamma-gamma
  model. So some customers buy for years, and many lapse after one or two orders;
- refunds, support tickets, survey scores (NPS 0-10), reviews and referrals follow the
  purchases; a few contacts unsubscribe.

Rows are inserted set-based (`bulk_create` in large batches): the journeys are valid by
construction (kinds, amounts only on purchases/refunds, scores 0-10), so the per-row
validation of contacts.services is not needed, and no per-touchpoint evaluation is
enqueued. Afterwards the lifecycle engine places every contact in one full recompute
(`stages.services.lifecycle_recompute`), which writes their stage history.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.roles import MARKETERS_GROUP, SALES_REPS_GROUP
from analytics.models import CLVModelFit
from campaigns.models import Campaign, CampaignMember, CampaignStatus, Segment
from contacts.models import Contact, Tag, Touchpoint
from demo.catalogue import (
    CAMPAIGNS,
    DEMO_USERS,
    HISTORY_DAYS,
    REPLAY_STEP_DAYS,
    SEGMENTS,
    SNAPSHOT_STEP_DAYS,
    TAGS,
)
from demo.draw import _campaign_windows, _draw_journey, _draw_people
from demo.insert import _insert_contacts, _insert_members, _insert_tags, _insert_touchpoints
from loyalty.demo import loyalty_demo_seed
from metrics.models import ContactMetrics
from stages.models import Stage, StageSnapshot, StageTransition
from stages.services import lifecycle_replay, stage_snapshot_write


class DemoDataExists(Exception):
    """The database already holds contacts: seeding on top would mix demo and real data."""


@dataclass
class DemoResult:
    """What seed_demo wrote, for the command's summary."""

    end_date: dt.date
    contacts: int = 0
    touchpoints: int = 0
    purchases: int = 0
    campaigns: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    recompute: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def demo_seed(
    *,
    contacts: int,
    seed: int,
    end_date: dt.date | None = None,
    reset: bool = False,
    password: str | None = None,
    recompute: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> DemoResult:
    """Create demo users, campaigns, segments, `contacts` contacts with two years of touchpoints, then place them.

    Deterministic for (`seed`, `end_date`). Refuses to run on a database that already has
    contacts unless `reset` (which first deletes every contact, touchpoint, transition,
    campaign, segment, tag and analytics row; users, stages and rules stay).
    """
    if contacts < 1:
        raise ValueError("--contacts must be at least 1")
    end_date = end_date or timezone.now().astimezone(dt.UTC).date()
    result = DemoResult(end_date=end_date)
    started = time.perf_counter()

    existing = Contact.objects.count()
    if existing and not reset:
        raise DemoDataExists(
            f"The database already has {existing} contact(s); seed_demo will not mix demo data into it. "
            "Run it again with --reset to delete all contacts, touchpoints, stage history, campaigns, segments, "
            "tags and analytics rows first (users, stages and rules are kept)."
        )
    rng = np.random.default_rng(seed)
    end = dt.datetime.combine(end_date, dt.time(0, 0), tzinfo=dt.UTC)
    start = end - dt.timedelta(days=HISTORY_DAYS)

    with transaction.atomic():  # a failure leaves the database as it was, including what --reset would delete
        if reset:
            _reset(log=log)
            result.timings["reset"] = time.perf_counter() - started
        users = _demo_users(password=password, result=result)
        reps = [users["rep"], users["rep2"]]
        campaigns = _create_campaigns(start=start, end=end, creator=users["marketer"])
        _create_segments(creator=users["marketer"])
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in TAGS}
        result.campaigns = len(campaigns)

        generated = time.perf_counter()
        people = _draw_people(rng=rng, count=contacts, campaigns=campaigns)
        windows = _campaign_windows(campaigns)
        for person in people:
            _draw_journey(rng=rng, person=person, campaigns=campaigns, windows=windows)
        result.timings["generate"] = time.perf_counter() - generated

        inserted = time.perf_counter()
        contact_ids = _insert_contacts(rng=rng, people=people, reps=reps, campaigns=campaigns, start=start)
        _insert_tags(people=people, contact_ids=contact_ids, tags=tags)
        result.touchpoints, result.purchases = _insert_touchpoints(
            people=people, contact_ids=contact_ids, campaigns=campaigns, reps=reps, start=start
        )
        _insert_members(people=people, contact_ids=contact_ids, campaigns=campaigns, start=start)
        result.contacts = len(contact_ids)
        result.timings["insert"] = time.perf_counter() - inserted
        log(f"inserted {result.contacts} contacts and {result.touchpoints} touchpoints")

    if recompute:
        placed = time.perf_counter()
        result.recompute = _place_contacts(as_of=end_date, log=log)
        result.timings["recompute"] = time.perf_counter() - placed
    begun = time.perf_counter()  # the loyalty programme's two years (earning, redemptions, expiry, referrals)
    result.extensions["loyalty"] = loyalty_demo_seed(seed=seed, start=start, end=end, log=log)
    result.timings["loyalty"] = time.perf_counter() - begun
    result.timings["total"] = time.perf_counter() - started
    return result


def _reset(*, log: Callable[[str], None]) -> None:
    """Delete the CRM data (not users, stages or rules), history first so no foreign key blocks a delete."""

    with transaction.atomic():  # also a savepoint inside demo_seed's transaction
        for model in (StageTransition, Touchpoint, CampaignMember, ContactMetrics, Contact, Campaign, Segment, Tag):
            deleted, _ = model.objects.all().delete()
            log(f"reset: deleted {deleted} row(s) from {model._meta.label} and its dependants")
        StageSnapshot.objects.all().delete()
        CLVModelFit.objects.all().delete()


def _demo_users(*, password: str | None, result: DemoResult) -> dict[str, Any]:
    """The demo accounts, created or given a fresh password; passwords are random unless one is given."""
    user_model = get_user_model()
    groups = {
        "marketer": Group.objects.get(name=MARKETERS_GROUP),
        "sales_rep": Group.objects.get(name=SALES_REPS_GROUP),
    }
    users = {}
    for username, first, last, role in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=username)
        user.first_name, user.last_name, user.email = first, last, f"{username}@example.com"
        user.is_staff = user.is_superuser = role == "admin"
        user.is_active = True
        chosen = password or secrets.token_urlsafe(9)
        user.set_password(chosen)
        user.save()
        if role in groups:
            user.groups.add(groups[role])
        result.passwords[username] = chosen
        users[username] = user
    return users


def _create_campaigns(*, start: dt.datetime, end: dt.datetime, creator: Any) -> list[Campaign]:
    stages = {stage.slug: stage for stage in Stage.objects.all()}
    rows = []
    for plan in CAMPAIGNS:
        starts = (start + dt.timedelta(days=plan.start_day)).date()
        ends = starts + dt.timedelta(days=plan.days) if plan.days else None
        running = ends is None or ends >= end.date()
        rows.append(
            Campaign(
                name=f"{plan.name} {starts.year}" if plan.days and plan.days < 60 else plan.name,
                description=plan.description,
                objective=stages.get(plan.objective),
                channel=plan.channel,
                status=CampaignStatus.ACTIVE if running else CampaignStatus.COMPLETED,
                starts_on=starts,
                ends_on=ends,
                cost=Decimal(plan.cost),
                utm_campaign=f"{plan.stem}-{starts:%Y%m}",
                created_by=creator,
                created_at=dt.datetime.combine(starts, dt.time(9, 0), tzinfo=dt.UTC) - dt.timedelta(days=7),
            )
        )
    return Campaign.objects.bulk_create(rows)


def _create_segments(*, creator: Any) -> None:
    for name, description, filters in SEGMENTS:
        Segment.objects.update_or_create(
            name=name, defaults={"description": description, "filters": filters, "created_by": creator}
        )


def _place_contacts(*, as_of: dt.date, log: Callable[[str], None]) -> Any:
    """Let the lifecycle engine place every contact, replaying the two years month by month.

    One evaluation sees only the present: a customer who lapsed and bought again is simply
    "retention" today. Replaying as of every month (each step ignoring later touchpoints,
    as the nightly runs would have) records the at-risk, churned and win-back moves in
    between with their real effective times. Then weekly stage snapshots are rebuilt from
    that history, so the "contacts per stage over time" chart has two years of points.
    """

    start = as_of - dt.timedelta(days=HISTORY_DAYS)

    def progress(day: dt.date, evaluation: Any) -> None:
        if evaluation.moved:
            log(f"replay as of {day}: {evaluation.moved} contact(s) moved")

    result = lifecycle_replay(start=start, end=as_of, step_days=REPLAY_STEP_DAYS, progress=progress)
    day = start
    while day < as_of:
        stage_snapshot_write(date=day)
        day += dt.timedelta(days=SNAPSHOT_STEP_DAYS)
    log(f"wrote weekly stage snapshots from {start} to {as_of}")
    return result
