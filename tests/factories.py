"""factory_boy factories for the domain models."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.roles import MARKETERS_GROUP, SALES_REPS_GROUP
from campaigns.models import Campaign, CampaignStatus, Segment
from contacts.models import Channel, Contact, Tag, Touchpoint, TouchpointKind, TouchpointSource
from stages.models import Stage, StageTransition, TransitionSource


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `role` is one of "admin", "marketer", "sales_rep" or None (a user with no role)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-test-123")

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if not create or not extracted:
            return
        if extracted == "admin":
            obj.is_staff = obj.is_superuser = True
            obj.save(update_fields=["is_staff", "is_superuser"])
            return
        group = {"marketer": MARKETERS_GROUP, "sales_rep": SALES_REPS_GROUP}[extracted]
        obj.groups.add(Group.objects.get(name=group))


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


def stage(slug: str) -> Stage:
    return Stage.objects.get(slug=slug)


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact placed in `stage` (awareness by default) with a consistent first transition."""

    class Meta:
        model = Contact
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    acquisition_channel = Channel.ORGANIC_SEARCH
    acquired_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    stage = factory.LazyFunction(lambda: stage("awareness"))
    stage_entered_at = factory.SelfAttribute("acquired_at")
    created_at = factory.SelfAttribute("acquired_at")

    @factory.post_generation
    def history(obj, create, extracted, **kwargs):
        if create:
            StageTransition.objects.create(
                contact=obj,
                from_stage=None,
                to_stage=obj.stage,
                effective_at=obj.stage_entered_at,
                source=TransitionSource.SYSTEM,
                note="Created by factory",
            )


class TouchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touchpoint

    contact = factory.SubFactory(ContactFactory)
    kind = TouchpointKind.SITE_VISIT
    channel = Channel.WEB
    occurred_at = factory.LazyFunction(timezone.now)
    source = TouchpointSource.MANUAL
    amount = factory.LazyAttribute(lambda o: Decimal("50.00") if o.kind in ("purchase", "refund") else None)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    filters = factory.LazyFunction(dict)


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Channel.EMAIL
    status = CampaignStatus.ACTIVE
    starts_on = factory.LazyFunction(lambda: timezone.now().date() - dt.timedelta(days=60))
    cost = Decimal("1000.00")


class CLVBacktestFactory(factory.django.DjangoModelFactory):
    """A recorded calibration/holdout backtest (issue 18), with an empty result."""

    class Meta:
        model = "analytics.CLVBacktest"

    as_of = factory.LazyFunction(timezone.localdate)
    calibration_end = factory.LazyAttribute(lambda o: o.as_of - dt.timedelta(days=91))
    holdout_end = factory.SelfAttribute("as_of")
    n_customers = 100
    n_repeat_customers = 40
    actual_total = 55.0
    chosen_model = "pareto_nbd"
    reason = "Pareto/NBD had the smallest error per customer on the holdout."
    result = factory.LazyFunction(dict)
