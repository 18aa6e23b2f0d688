"""One story on the contact page (issue 18): stage, P(alive), RFM segment and risk line agree on demo data."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from types import SimpleNamespace

import numpy as np
import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from analytics.clv_story import value_story
from analytics.models import CLVModelFit
from analytics.services import customer_value_recompute
from contacts.models import Contact
from metrics.models import ContactMetrics

END = dt.date(2026, 6, 30)


@pytest.fixture
def demo(db, settings):
    """The demo business (seed_demo's buy-till-you-die customers), placed by the engine, as of END."""
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC), tick=True):
        call_command("seed_demo", "--contacts", "1500", "--seed", "7", "--end-date", END.isoformat(), stdout=StringIO())
        yield


def _exit_stage_p_alive(slug: str) -> np.ndarray:
    rows = ContactMetrics.objects.filter(contact__stage__slug=slug, p_alive__isnull=False).values_list("p_alive")
    return np.array([p for (p,) in rows])


def _one_time_buyers_silent_a_year() -> np.ndarray:
    cutoff = timezone.make_aware(dt.datetime.combine(END - dt.timedelta(days=365), dt.time.min))
    rows = ContactMetrics.objects.filter(purchase_count=1, last_purchase_at__lt=cutoff).values_list("p_alive")
    return np.array([p for (p,) in rows])


def test_bgnbd_calls_silent_one_time_buyers_certainly_alive_which_is_the_finding(demo, settings):
    settings.CRM_CLV_MODEL = "bgnbd"
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC), tick=True):
        customer_value_recompute(as_of=END)
    silent = _one_time_buyers_silent_a_year()
    assert silent.size > 20 and np.all(silent == 1.0)
    churned = _exit_stage_p_alive("churned")
    assert churned.size > 20 and (churned >= 0.9).mean() > 0.4  # the issue: 63 of 102 at 1,500 contacts


def test_the_chosen_model_gives_silent_one_time_buyers_a_low_p_alive(demo, settings):
    settings.CRM_CLV_MODEL = "auto"
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC), tick=True):
        result = customer_value_recompute(as_of=END)
    fit = CLVModelFit.objects.get(pk=result.fit_id)
    assert fit.model != "bgnbd", fit.details["choice"]["reason"]
    silent = _one_time_buyers_silent_a_year()
    assert silent.size > 20 and silent.mean() < 0.3
    churned = _exit_stage_p_alive("churned")
    assert (churned >= 0.9).mean() < 0.1
    at_risk = _exit_stage_p_alive("at_risk")
    assert (at_risk >= 0.9).mean() < 0.2


def test_contact_page_tells_one_story_for_a_churned_one_time_buyer(demo, settings, marketer):
    settings.CRM_CLV_MODEL = "auto"
    with time_machine.travel(dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC), tick=True):
        customer_value_recompute(as_of=END)
        cutoff = timezone.make_aware(dt.datetime.combine(END - dt.timedelta(days=365), dt.time.min))
        contact = Contact.objects.filter(
            stage__slug="churned", metrics__purchase_count=1, metrics__last_purchase_at__lt=cutoff
        ).first()
        assert contact is not None
        client = Client()
        client.force_login(marketer)
        html = client.get(f"/contacts/{contact.pk}/").content.decode()
    metrics = ContactMetrics.objects.get(pk=contact.pk)
    assert metrics.p_alive < 0.2
    assert 'data-value-story="lapsed"' in html and "Probably lapsed" in html
    assert "1 purchase, the last" in html and "80 % interval" in html
    assert f"{metrics.p_alive:.0%}" in html


def _metrics(**kw):
    base = dict(
        purchase_count=6,
        p_alive=0.8,
        expected_purchases=2.5,
        predicted_clv=310,
        predicted_clv_low=250,
        predicted_clv_high=380,
        first_purchase_at=timezone.make_aware(dt.datetime(2025, 1, 1)),
        last_purchase_at=timezone.make_aware(dt.datetime(2026, 3, 1)),
    )
    return SimpleNamespace(**{**base, **kw})


def _fit():
    return CLVModelFit(as_of=END, n_customers=5000, model="pareto_nbd", horizon_weeks=52.0)


def _contact(category: str, name: str):
    return SimpleNamespace(stage=SimpleNamespace(category=category, name=name))


NOW = timezone.make_aware(dt.datetime(2026, 7, 1))


def test_story_of_an_exit_stage_contact_the_model_finds_active_says_why_they_differ():
    story = value_story(contact=_contact("exit", "Churned"), metrics=_metrics(p_alive=0.8), fit=_fit(), now=NOW)
    assert story.status == "active" and story.tone == "warn"
    assert story.headline.startswith("Churned by the stage rule")
    assert "win-back" in story.stage_note
    assert "6 purchases, about every 85 days, the last 122 days ago" in story.sentence
    assert "Pareto/NBD" in story.sentence and "80%" in story.sentence


def test_story_of_a_customer_stage_contact_the_model_finds_lapsed_says_the_rule_lags():
    story = value_story(contact=_contact("customer", "Loyalty"), metrics=_metrics(p_alive=0.1), fit=_fit(), now=NOW)
    assert story.status == "lapsed" and story.headline == "Probably lapsed" and story.tone == "bad"
    assert "Still in Loyalty" in story.stage_note


@pytest.mark.parametrize("p, status", [(0.05, "lapsed"), (0.3, "slipping"), (0.49, "slipping"), (0.5, "active")])
def test_status_bands_meet_the_risk_line_threshold(p, status, settings):
    settings.CRM_AT_RISK_P_ALIVE = 0.5
    story = value_story(contact=_contact("customer", "Retention"), metrics=_metrics(p_alive=p), fit=_fit(), now=NOW)
    assert story.status == status  # the risk line says "High risk" exactly below 0.5


def test_no_story_without_model_scores():
    assert value_story(contact=_contact("customer", "Purchase"), metrics=_metrics(p_alive=None), fit=_fit()) is None
    fallback = CLVModelFit(as_of=END, n_customers=5, is_fallback=True)
    assert value_story(contact=_contact("customer", "Purchase"), metrics=_metrics(), fit=fallback) is None
