"""Plain words instead of jargon and internal codes (issue 21): metric help, duplicates, stage names, the 403 page."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics.models import ContactMetrics
from plays.models import Play
from tests.factories import ContactFactory, stage

pytestmark = pytest.mark.django_db

JARGON = ("BG/NBD", "Gamma-Gamma", "whole-base", "1 - churn rate")


def test_the_overview_key_figures_explain_themselves_without_model_names(marketer_client):
    ContactFactory(stage=stage("retention"))
    html = marketer_client.get(reverse("web:overview_kpis"), {"period": "365d"}).content.decode()
    assert "100% minus the churn rate" in html
    for word in JARGON:
        assert word not in html, word


def test_duplicates_show_what_the_contacts_share_not_the_matching_key(rep_client, rep):
    for email in ("mila@kite.example", "mila.evans@kite.example"):
        ContactFactory(owner=rep, email=email, first_name="Mila", last_name="Evans", company="Kite Outdoor")
    html = rep_client.get(reverse("web:duplicates")).content.decode()
    assert 'Same name and company: <span class="muted">Mila Evans at Kite Outdoor</span>' in html
    assert "mila|evans|kite outdoor" not in html


def test_top_customers_show_the_stage_name_not_its_slug(marketer_client):
    contact = ContactFactory(first_name="Ria", last_name="Top", stage=stage("retention"))
    ContactMetrics.objects.create(
        contact=contact,
        purchase_count=2,
        predicted_clv=500,
        historic_clv=100,
        first_purchase_at=timezone.now() - dt.timedelta(days=20),
    )
    html = marketer_client.get(reverse("web:overview_chart", args=["clv"]), {"period": "365d"}).content.decode()
    assert "<td>Retention</td>" in html and "<td>retention</td>" not in html


def test_a_silence_play_names_touchpoint_kinds_in_words(marketer_client):
    play = Play.objects.create(
        name="Wake up", trigger_type="silence", trigger_kind="email_sent", silence_days=7, quiet_kinds=["email_open"]
    )
    html = marketer_client.get(reverse("web:plays:play_detail", args=[play.pk])).content.decode()
    assert "no email open" in html and "email_open" not in html


def test_a_marketers_403_page_does_not_tell_them_to_ask_for_their_own_role(marketer_client):
    response = marketer_client.get(reverse("web:my_contacts"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "ask an administrator" not in html.lower()
    assert "signed in as a marketer" in html


def test_a_user_without_a_role_is_told_to_ask_for_one(outsider_client):
    html = outsider_client.get(reverse("web:contact_list")).content.decode()
    assert "Ask an administrator to make you a marketer or a sales rep." in html
