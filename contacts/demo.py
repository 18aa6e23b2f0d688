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
from django.db import connections, router, transaction
from django.utils import timezone

from accounts.roles import MARKETERS_GROUP, SALES_REPS_GROUP
from campaigns.models import Campaign, CampaignMember, CampaignStatus, Segment
from contacts.models import Channel, Contact, Tag, Touchpoint, TouchpointKind, TouchpointSource
from contacts.services import stage_initial
from stages.models import StageTransition, TransitionSource

HISTORY_DAYS = 730
BATCH_SIZE = 2000
TWO_PLACES = Decimal("0.01")

K = TouchpointKind
C = Channel

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Andrea",
    "Arjun",
    "Aya",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dara",
    "Elena",
    "Emil",
    "Emma",
    "Fatima",
    "Felix",
    "Freya",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Ivan",
    "Jade",
    "James",
    "Jonas",
    "Julia",
    "Kai",
    "Karin",
    "Lars",
    "Laura",
    "Leo",
    "Lina",
    "Lucas",
    "Maya",
    "Mei",
    "Mila",
    "Nadia",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oscar",
    "Paula",
    "Priya",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Tom",
    "Uma",
    "Victor",
    "Yara",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Ahmed",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Brown",
    "Chen",
    "Clarke",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Gomez",
    "Hansen",
    "Hoffmann",
    "Ivanova",
    "Jensen",
    "Johnson",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Olsen",
    "Patel",
    "Peters",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Wagner",
    "Walker",
    "Weber",
    "Williams",
    "Wilson",
    "Wong",
    "Yilmaz",
    "Young",
    "Zhang",
]
MAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")
COMPANY_FIRST = [
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Ever",
    "Falcon",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
]
COMPANY_SECOND = [
    "Analytics",
    "Bakery",
    "Clinic",
    "Consulting",
    "Foods",
    "Labs",
    "Logistics",
    "Media",
    "Outdoor",
    "Robotics",
    "Studio",
    "Supply",
]
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "SE", "CA", "AU")
COUNTRY_WEIGHTS = (0.34, 0.14, 0.12, 0.09, 0.07, 0.07, 0.05, 0.07, 0.05)

# Acquisition channels and their shares of new contacts.
ACQUISITION = (
    (C.ORGANIC_SEARCH, 0.24),
    (C.PAID_SEARCH, 0.16),
    (C.PAID_SOCIAL, 0.13),
    (C.ORGANIC_SOCIAL, 0.08),
    (C.DIRECT, 0.11),
    (C.EMAIL, 0.06),
    (C.REFERRAL, 0.08),
    (C.AFFILIATE, 0.05),
    (C.DISPLAY, 0.05),
    (C.EVENTS, 0.04),
)
PAID_CHANNELS = {C.PAID_SEARCH, C.PAID_SOCIAL, C.DISPLAY, C.AFFILIATE}

# Engagement touches: (kind, channel, weight). Email kinds need marketing consent.
ENGAGEMENT = (
    (K.SITE_VISIT, C.WEB, 0.36),
    (K.EMAIL_OPEN, C.EMAIL, 0.22),
    (K.EMAIL_CLICK, C.EMAIL, 0.12),
    (K.CONTENT_DOWNLOAD, C.WEB, 0.1),
    (K.FORM_SUBMIT, C.WEB, 0.06),
    (K.WEBINAR, C.EVENTS, 0.05),
    (K.CHAT, C.CHAT, 0.05),
    (K.SOCIAL_SHARE, C.ORGANIC_SOCIAL, 0.04),
)
EMAIL_KINDS = {K.EMAIL_OPEN, K.EMAIL_CLICK}


@dataclass(frozen=True)
class CampaignPlan:
    """A demo campaign, placed relative to the start of the two-year window."""

    name: str
    stem: str
    channel: str
    start_day: int
    days: int | None  # None: still running
    cost: int
    objective: str
    description: str


CAMPAIGNS = (
    CampaignPlan(
        "Search - always on",
        "search-always-on",
        C.PAID_SEARCH,
        0,
        None,
        48000,
        "engagement",
        "Brand and category keywords, all year.",
    ),
    CampaignPlan(
        "Social prospecting",
        "social-prospecting",
        C.PAID_SOCIAL,
        60,
        240,
        26000,
        "engagement",
        "Lookalike audiences on social networks.",
    ),
    CampaignPlan(
        "Spring sale",
        "spring-sale",
        C.EMAIL,
        150,
        21,
        3500,
        "purchase",
        "Newsletter offer to subscribed prospects and customers.",
    ),
    CampaignPlan(
        "Lifecycle marketing webinar series",
        "webinar-series",
        C.EVENTS,
        200,
        120,
        9000,
        "consideration",
        "Monthly live webinars with a product demo.",
    ),
    CampaignPlan("Black Friday", "black-friday", C.EMAIL, 330, 10, 6000, "purchase", "Discount week for subscribers."),
    CampaignPlan(
        "Display retargeting",
        "display-retargeting",
        C.DISPLAY,
        380,
        180,
        15000,
        "consideration",
        "Retargeting of site visitors who did not buy.",
    ),
    CampaignPlan(
        "Partner co-marketing",
        "partner-co-marketing",
        C.AFFILIATE,
        420,
        200,
        12000,
        "purchase",
        "Affiliate partners' newsletters and reviews.",
    ),
    CampaignPlan(
        "Social prospecting - year two",
        "social-prospecting-2",
        C.PAID_SOCIAL,
        450,
        None,
        21000,
        "engagement",
        "Second-year social campaign, still running.",
    ),
    CampaignPlan(
        "We miss you",
        "win-back",
        C.EMAIL,
        520,
        60,
        2500,
        "retention",
        "Win-back offer for customers who have gone quiet.",
    ),
    CampaignPlan("Spring sale", "spring-sale", C.EMAIL, 515, 21, 4000, "purchase", "Newsletter offer, second year."),
    CampaignPlan(
        "Black Friday",
        "black-friday",
        C.EMAIL,
        695,
        10,
        7000,
        "purchase",
        "Discount week for subscribers, second year.",
    ),
)

SEGMENTS = (
    ("At-risk customers", "Customers who have gone quiet: the win-back audience.", {"stage": ["at_risk"]}),
    ("Loyal and advocates", "The best customers: loyalty and advocacy stages.", {"stage": ["loyalty", "advocacy"]}),
    ("Open B2B leads", "Prospects with a company, not yet customers.", {"tag": ["b2b"], "stage": ["consideration"]}),
)
TAGS = ("b2b", "newsletter", "webinar", "vip", "partner")

DEMO_USERS = (
    # username, first name, last name, role
    ("admin", "Alex", "Admin", "admin"),
    ("marketer", "Mia", "Marketer", "marketer"),
    ("rep", "Ravi", "Rep", "sales_rep"),
    ("rep2", "Rosa", "Rep", "sales_rep"),
)


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


@dataclass
class _Event:
    contact: int
    kind: str
    channel: str
    day: float
    amount: float | None = None
    score: int | None = None
    campaign: int | None = None
    source: str = TouchpointSource.API
    logged_by: int | None = None  # index into the reps


@dataclass
class _Person:
    index: int
    channel: str
    day: float
    consent: bool
    b2b: bool
    owner: int | None
    campaign: int | None = None
    unsubscribed_day: float | None = None
    events: list[_Event] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    revenue: float = 0.0


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
    result.timings["total"] = time.perf_counter() - started
    return result


def _reset(*, log: Callable[[str], None]) -> None:
    """Delete the CRM data (not users, stages or rules), history first so no foreign key blocks a delete."""
    from analytics.models import CLVModelFit
    from metrics.models import ContactMetrics
    from stages.models import StageSnapshot

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
    from stages.models import Stage

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


def _campaign_on(campaigns: list[Campaign], channel: str, day: float, start_days: list[tuple[float, float]]) -> int:
    """Index of the campaign of `channel` running on `day`, or -1."""
    for index, campaign in enumerate(campaigns):
        first, last = start_days[index]
        if campaign.channel == channel and first <= day <= last:
            return index
    return -1


def _campaign_windows(campaigns: list[Campaign]) -> list[tuple[float, float]]:
    origin = campaigns[0].starts_on - dt.timedelta(days=CAMPAIGNS[0].start_day)
    windows = []
    for campaign in campaigns:
        first = (campaign.starts_on - origin).days
        last = (campaign.ends_on - origin).days + 0.999 if campaign.ends_on else float(HISTORY_DAYS)
        windows.append((float(first), last))
    return windows


def _draw_people(*, rng: np.random.Generator, count: int, campaigns: list[Campaign]) -> list[_Person]:
    """Arrival day, channel, consent, B2B and owner of every contact, drawn as arrays."""
    channels = [channel for channel, _ in ACQUISITION]
    weights = np.array([weight for _, weight in ACQUISITION])
    channel_index = rng.choice(len(channels), size=count, p=weights / weights.sum())
    # More arrivals in recent months (a growing business): density rising over the window.
    days = HISTORY_DAYS * rng.random(count) ** 0.75
    days = np.minimum(days, HISTORY_DAYS - 0.01)
    consent = rng.random(count) < 0.68
    b2b = rng.random(count) < 0.3
    owner = rng.integers(0, 2, size=count)
    owned = b2b | (rng.random(count) < 0.15)
    windows = _campaign_windows(campaigns)
    order = np.argsort(days, kind="stable")  # ids follow arrival order, as in a real CRM
    people = []
    for index in order:
        channel = channels[channel_index[index]]
        person = _Person(
            index=len(people),
            channel=channel,
            day=float(days[index]),
            consent=bool(consent[index]),
            b2b=bool(b2b[index]),
            owner=int(owner[index]) if owned[index] else None,
        )
        if channel in PAID_CHANNELS or channel == C.EVENTS:
            found = _campaign_on(campaigns, channel, person.day, windows)
            person.campaign = found if found >= 0 else None
        people.append(person)
    return people


def _draw_journey(
    *, rng: np.random.Generator, person: _Person, campaigns: list[Campaign], windows: list[tuple[float, float]]
) -> None:
    """The touchpoints of one contact, in time order, stopping at the end of the window."""
    events = person.events
    t = person.day

    def add(kind: str, channel: str, day: float, **extra: Any) -> None:
        if day < HISTORY_DAYS:
            events.append(_Event(contact=person.index, kind=kind, channel=channel, day=day, **extra))

    first_kind = K.AD_CLICK if person.channel in PAID_CHANNELS else K.SITE_VISIT
    first_channel = C.WEB if person.channel in (C.DIRECT, C.ORGANIC_SEARCH) else person.channel
    add(first_kind, first_channel, t, campaign=person.campaign)
    if person.consent:
        person.tags.add("newsletter")
    if person.b2b:
        person.tags.add("b2b")
    if person.channel == C.AFFILIATE:
        person.tags.add("partner")

    engaged = rng.random() < (0.8 if person.b2b else 0.7)
    considered = bought = False
    if engaged:
        kinds, channels, weights = zip(*ENGAGEMENT, strict=True)
        probabilities = np.array(weights) / sum(weights)
        for _ in range(1 + rng.poisson(3.0)):
            t += rng.exponential(5.0)
            choice = int(rng.choice(len(kinds), p=probabilities))
            kind, channel = kinds[choice], channels[choice]
            if kind in EMAIL_KINDS and not person.consent:
                kind, channel = K.SITE_VISIT, C.WEB
            campaign = None
            if kind in EMAIL_KINDS or kind == K.WEBINAR:
                found = _campaign_on(campaigns, C.EMAIL if kind in EMAIL_KINDS else C.EVENTS, t, windows)
                campaign = found if found >= 0 and rng.random() < 0.7 else None
            if kind == K.WEBINAR:
                person.tags.add("webinar")
            add(kind, channel, t, campaign=campaign)
        considered = rng.random() < (0.55 if person.b2b else 0.35)
    if considered:
        t += rng.exponential(7.0)
        if person.owner is not None:
            for _ in range(rng.integers(1, 4)):
                add(
                    K.CALL if rng.random() < 0.6 else K.MEETING,
                    C.PHONE,
                    t,
                    source=TouchpointSource.MANUAL,
                    logged_by=person.owner,
                )
                t += rng.exponential(3.0)
        if person.b2b:
            kind = K.DEMO if rng.random() < 0.6 else K.QUOTE_REQUEST
            add(
                kind,
                C.WEB if kind == K.QUOTE_REQUEST else C.IN_PERSON,
                t,
                source=TouchpointSource.MANUAL if kind == K.DEMO and person.owner is not None else TouchpointSource.API,
                logged_by=person.owner if kind == K.DEMO else None,
            )
        else:
            add(K.TRIAL_SIGNUP if rng.random() < 0.5 else K.CART_ABANDONED, C.WEB, t)
        bought = rng.random() < 0.6
    elif engaged:
        bought = rng.random() < 0.14
    else:
        bought = rng.random() < 0.04
    if bought:
        t += rng.exponential(9.0)
        _draw_purchases(rng=rng, person=person, first_day=t, windows=windows, campaigns=campaigns)
    if person.consent and rng.random() < 0.06:
        person.unsubscribed_day = min(person.day + rng.exponential(200.0), HISTORY_DAYS - 0.5)
        add(K.UNSUBSCRIBE, C.EMAIL, person.unsubscribed_day)
        person.events = [e for e in events if not (e.kind in EMAIL_KINDS and e.day > person.unsubscribed_day)]
    person.events.sort(key=lambda event: event.day)


def _draw_purchases(
    *,
    rng: np.random.Generator,
    person: _Person,
    first_day: float,
    windows: list[tuple[float, float]],
    campaigns: list[Campaign],
) -> None:
    """BG/NBD repeat buying with gamma-gamma spend, plus what follows purchases (refunds, surveys, reviews…)."""
    rate = rng.gamma(shape=0.9, scale=1 / (0.9 * 55.0))  # purchases per day; mean one per ~55 days
    dropout = rng.beta(1.3, 3.5)  # chance of lapsing for good after each purchase
    mean_spend = rng.gamma(shape=4.0, scale=(650.0 if person.b2b else 85.0) / 4.0)
    happiness = rng.normal(7.6, 1.7)  # centre of this customer's survey scores
    t = first_day
    purchases = 0
    while t < HISTORY_DAYS and purchases < 80:
        amount = max(1.0, rng.gamma(shape=6.0, scale=mean_spend / 6.0))
        campaign = None
        if person.consent:
            found = _campaign_on(campaigns, C.EMAIL, t, windows)
            campaign = found if found >= 0 and rng.random() < 0.6 else None
        channel = C.EMAIL if campaign is not None else (C.WEB if not person.b2b else C.PHONE)
        person.events.append(
            _Event(contact=person.index, kind=K.PURCHASE, channel=channel, day=t, amount=amount, campaign=campaign)
        )
        person.revenue += amount
        purchases += 1
        if rng.random() < 0.04:
            refund_day = t + rng.uniform(2, 20)
            if refund_day < HISTORY_DAYS:
                refunded = amount if rng.random() < 0.7 else round(amount * rng.uniform(0.2, 0.8), 2)
                person.events.append(
                    _Event(contact=person.index, kind=K.REFUND, channel=C.WEB, day=refund_day, amount=refunded)
                )
                person.revenue -= refunded
        if rng.random() < 0.08:
            ticket_day = t + rng.uniform(1, 30)
            if ticket_day < HISTORY_DAYS:
                person.events.append(
                    _Event(contact=person.index, kind=K.SUPPORT_TICKET, channel=C.CHAT, day=ticket_day)
                )
        if rng.random() < 0.22:
            survey_day = t + rng.uniform(3, 12)
            if survey_day < HISTORY_DAYS:
                score = int(np.clip(round(rng.normal(happiness, 1.4)), 0, 10))
                person.events.append(
                    _Event(contact=person.index, kind=K.SURVEY_RESPONSE, channel=C.EMAIL, day=survey_day, score=score)
                )
        if purchases == 2 and happiness > 7.5 and rng.random() < 0.35:
            review_day = t + rng.uniform(5, 25)
            if review_day < HISTORY_DAYS:
                person.events.append(_Event(contact=person.index, kind=K.REVIEW, channel=C.WEB, day=review_day))
        if purchases == 3 and happiness > 7.0 and rng.random() < 0.3:
            referral_day = t + rng.uniform(5, 60)
            if referral_day < HISTORY_DAYS:
                person.events.append(
                    _Event(contact=person.index, kind=K.REFERRAL, channel=C.REFERRAL, day=referral_day)
                )
        if person.consent and rng.random() < 0.5:  # newsletter opens while the customer is around
            open_day = t + rng.uniform(3, 40)
            if open_day < HISTORY_DAYS:
                person.events.append(_Event(contact=person.index, kind=K.EMAIL_OPEN, channel=C.EMAIL, day=open_day))
        if rng.random() < dropout:
            break  # this customer has lapsed for good
        t += rng.exponential(1.0 / rate)
    if purchases >= 6 or person.revenue > (5000 if person.b2b else 700):
        person.tags.add("vip")


def _at(start: dt.datetime, day: float) -> dt.datetime:
    return start + dt.timedelta(seconds=round(day * 86400))


def _insert_contacts(
    *, rng: np.random.Generator, people: list[_Person], reps: list[Any], campaigns: list[Campaign], start: dt.datetime
) -> list[int]:
    """Contacts in the first stage with their first transition, in bulk; returns their ids in `people` order."""
    count = len(people)
    first = rng.integers(0, len(FIRST_NAMES), size=count)
    last = rng.integers(0, len(LAST_NAMES), size=count)
    domain = rng.integers(0, len(MAIL_DOMAINS), size=count)
    company_a = rng.integers(0, len(COMPANY_FIRST), size=count)
    company_b = rng.integers(0, len(COMPANY_SECOND), size=count)
    country = rng.choice(len(COUNTRIES), size=count, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS))
    phone = rng.integers(1_000_000, 9_999_999, size=count)
    has_phone = rng.random(count) < 0.45
    initial = stage_initial()
    rows = []
    for i, person in enumerate(people):
        given, family = FIRST_NAMES[first[i]], LAST_NAMES[last[i]]
        company = f"{COMPANY_FIRST[company_a[i]]} {COMPANY_SECOND[company_b[i]]}" if person.b2b else ""
        mail_domain = (
            f"{COMPANY_FIRST[company_a[i]]}-{COMPANY_SECOND[company_b[i]]}.example".lower()
            if person.b2b
            else MAIL_DOMAINS[domain[i]]
        )
        acquired = _at(start, person.day)
        bought = any(event.kind == K.PURCHASE for event in person.events)
        unsubscribed = _at(start, person.unsubscribed_day) if person.unsubscribed_day is not None else None
        rows.append(
            Contact(
                email=f"{given}.{family}.{i + 1}@{mail_domain}".lower(),
                first_name=given,
                last_name=family,
                phone=f"+1 555 {phone[i]:07d}" if has_phone[i] else "",
                company=company,
                external_id=f"SHOP-{i + 1:07d}" if bought else None,
                owner=reps[person.owner] if person.owner is not None else None,
                acquisition_channel=person.channel,
                acquisition_campaign=campaigns[person.campaign] if person.campaign is not None else None,
                acquired_at=acquired,
                marketing_consent=person.consent and unsubscribed is None,
                consent_updated_at=unsubscribed or (acquired if person.consent else None),
                unsubscribed_at=unsubscribed,
                attributes={"country": COUNTRIES[country[i]], "segment": "b2b" if person.b2b else "b2c"},
                stage=initial,
                stage_entered_at=acquired,
                stage_source=TransitionSource.RULE,
                created_at=acquired,
            )
        )
    created = Contact.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    ids = [contact.pk for contact in created]
    if any(pk is None for pk in ids):  # every supported backend returns primary keys from bulk inserts
        raise RuntimeError("The database did not return the ids of the inserted contacts.")
    now = timezone.now()
    _insert_rows(
        StageTransition,
        ("contact_id", "from_stage_id", "to_stage_id", "effective_at", "recorded_at", "source", "note", "is_win_back"),
        [
            (
                pk,
                None,
                initial.pk,
                contact.acquired_at,
                now,
                str(TransitionSource.SYSTEM),
                "Demo data: first placement",
                False,
            )
            for pk, contact in zip(ids, created, strict=True)
        ],
        datetime_columns=("effective_at", "recorded_at"),
    )
    return ids


def _insert_tags(*, people: list[_Person], contact_ids: list[int], tags: dict[str, Tag]) -> None:
    through = Contact.tags.through
    rows = [
        through(contact_id=contact_ids[person.index], tag_id=tags[name].pk)
        for person in people
        for name in sorted(person.tags)
    ]
    through.objects.bulk_create(rows, batch_size=BATCH_SIZE)


def _insert_touchpoints(
    *, people: list[_Person], contact_ids: list[int], campaigns: list[Campaign], reps: list[Any], start: dt.datetime
) -> tuple[int, int]:
    """All touchpoints in bulk. Purchases and refunds carry the shop's order id as external id."""
    columns = (
        "contact_id",
        "kind",
        "channel",
        "occurred_at",
        "amount",
        "score",
        "campaign_id",
        "logged_by_id",
        "source",
        "external_id",
        "note",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "created_at",
    )
    rows: list[tuple] = []
    purchases = refunds = 0
    for person in people:
        contact_id = contact_ids[person.index]
        for event in person.events:
            campaign = campaigns[event.campaign] if event.campaign is not None else None
            external_id = None
            if event.kind == K.PURCHASE:
                purchases += 1
                external_id = f"ORDER-{purchases:08d}"
            elif event.kind == K.REFUND:
                refunds += 1
                external_id = f"REFUND-{refunds:08d}"
            when = _at(start, event.day)
            rows.append(
                (
                    contact_id,
                    str(event.kind),
                    str(event.channel),
                    when,
                    Decimal(f"{event.amount:.2f}") if event.amount is not None else None,
                    event.score,
                    campaign.pk if campaign else None,
                    reps[event.logged_by].pk if event.logged_by is not None else None,
                    str(event.source),
                    external_id,
                    "",
                    _utm_source(campaign.channel) if campaign else "",
                    campaign.channel if campaign else "",
                    campaign.utm_campaign if campaign else "",
                    when,
                )
            )
    _insert_rows(Touchpoint, columns, rows, datetime_columns=("occurred_at", "created_at"))
    return len(rows), purchases


def _insert_rows(model: Any, columns: tuple[str, ...], rows: list[tuple], *, datetime_columns: tuple[str, ...]) -> None:
    """Multi-row INSERTs of ready values, `BATCH_SIZE` rows per statement.

    `bulk_create` prepares every value of every row through its field (half a million
    calls for 30k touchpoints); these values are already valid by construction, so only
    the date-times need the backend's adaptation (SQLite stores them as UTC text).
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    positions = [columns.index(name) for name in datetime_columns]
    if positions and connection.vendor != "postgresql":
        adapt = connection.ops.adapt_datetimefield_value
        rows = [tuple(adapt(v) if k in positions else v for k, v in enumerate(row)) for row in rows]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # SQLite allows 32766 bound parameters per statement (3.32+); stay well below.
    per_statement = min(BATCH_SIZE, 30000 // len(columns))
    with connection.cursor() as cursor:
        for offset in range(0, len(rows), per_statement):
            chunk = rows[offset : offset + per_statement]
            cursor.execute(head + ", ".join([one] * len(chunk)), [value for row in chunk for value in row])


def _utm_source(channel: str) -> str:
    return {
        C.PAID_SEARCH: "google",
        C.PAID_SOCIAL: "social",
        C.DISPLAY: "display-network",
        C.AFFILIATE: "partner",
        C.EMAIL: "newsletter",
        C.EVENTS: "webinar",
    }.get(channel, "other")


def _insert_members(
    *, people: list[_Person], contact_ids: list[int], campaigns: list[Campaign], start: dt.datetime
) -> None:
    """A contact is a member of every campaign that reached it (acquisition or an attributed touch)."""
    rows = []
    for person in people:
        first_touch: dict[int, float] = {}
        if person.campaign is not None:
            first_touch[person.campaign] = person.day
        for event in person.events:
            if event.campaign is not None and event.campaign not in first_touch:
                first_touch[event.campaign] = event.day
        for index, day in sorted(first_touch.items()):
            rows.append(
                CampaignMember(
                    campaign=campaigns[index],
                    contact_id=contact_ids[person.index],
                    enrolled_at=_at(start, day),
                    source="demo",
                )
            )
    CampaignMember.objects.bulk_create(rows, batch_size=BATCH_SIZE)


REPLAY_STEP_DAYS = 30
SNAPSHOT_STEP_DAYS = 7


def _place_contacts(*, as_of: dt.date, log: Callable[[str], None]) -> Any:
    """Let the lifecycle engine place every contact, replaying the two years month by month.

    One evaluation sees only the present: a customer who lapsed and bought again is simply
    "retention" today. Replaying as of every month (each step ignoring later touchpoints,
    as the nightly runs would have) records the at-risk, churned and win-back moves in
    between with their real effective times. Then weekly stage snapshots are rebuilt from
    that history, so the "contacts per stage over time" chart has two years of points.
    """
    from stages.services import lifecycle_replay, stage_snapshot_write

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
