"""Drawing the demo's people and their journeys from one seeded generator (see demo.seed).

Arrival, engagement and consideration, then buy-till-you-die purchases (BG/NBD rates and dropout,
gamma-gamma spend), refunds, surveys, reviews and referrals; pure Python over NumPy, no database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from campaigns.models import Campaign
from contacts.models import TouchpointSource
from demo.catalogue import ACQUISITION, CAMPAIGNS, EMAIL_KINDS, ENGAGEMENT, HISTORY_DAYS, PAID_CHANNELS, C, K


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
