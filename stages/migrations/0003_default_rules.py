"""Seed the default stage rules (DESIGN.md, "StageRule") so a fresh install moves demo contacts sensibly.

Thresholds are the engine's documented defaults; admins tune them in Django admin, where
every change is validated against the metric registry (stages.rules).
"""

from django.db import migrations

ENGAGEMENT_KINDS = [
    "email_open",
    "email_click",
    "form_submit",
    "content_download",
    "webinar",
    "social_share",
    "chat",
    "call",
    "meeting",
]
CONSIDERATION_KINDS = ["quote_request", "trial_signup", "demo", "cart_abandoned"]

DEFAULT_RULES = [
    # name, target stage, match, conditions, from stages, priority, is_win_back, description
    (
        "Engaged",
        "engagement",
        "any",
        [{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ENGAGEMENT_KINDS}}],
        [],
        0,
        False,
        "Any engagement touch: an email open or click, a form, a download, a webinar, a chat, a call or a meeting.",
    ),
    (
        "Evaluating",
        "consideration",
        "any",
        [{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": CONSIDERATION_KINDS}}],
        [],
        0,
        False,
        "Asked for a quote, a demo or a trial, or abandoned a cart.",
    ),
    (
        "First purchase",
        "purchase",
        "all",
        [{"metric": "total_purchases", "op": ">=", "value": 1, "params": {}}],
        [],
        0,
        False,
        "Bought for the first time.",
    ),
    (
        "Repeat purchase within a year",
        "retention",
        "all",
        [{"metric": "purchases", "op": ">=", "value": 2, "params": {"days": 365}}],
        [],
        0,
        False,
        "A second purchase within 365 days.",
    ),
    (
        "Frequent buyer",
        "loyalty",
        "all",
        [{"metric": "total_purchases", "op": ">=", "value": 4, "params": {}}],
        [],
        0,
        False,
        "Four purchases or more.",
    ),
    (
        "Promoter",
        "loyalty",
        "all",
        [
            {"metric": "total_purchases", "op": ">=", "value": 1, "params": {}},
            {"metric": "last_survey_score", "op": ">=", "value": 9, "params": {}},
        ],
        [],
        0,
        False,
        "A customer whose latest survey score is 9 or 10 (an NPS promoter).",
    ),
    (
        "Referrer",
        "advocacy",
        "all",
        [
            {"metric": "total_purchases", "op": ">=", "value": 1, "params": {}},
            {"metric": "referrals", "op": ">=", "value": 1, "params": {}},
        ],
        [],
        0,
        False,
        "A customer who referred someone.",
    ),
    (
        "Reviewer",
        "advocacy",
        "all",
        [
            {"metric": "total_purchases", "op": ">=", "value": 1, "params": {}},
            {"metric": "reviews", "op": ">=", "value": 1, "params": {}},
        ],
        [],
        0,
        False,
        "A customer who wrote a review.",
    ),
    (
        "Silent for 180 days",
        "at_risk",
        "all",
        [{"metric": "days_since_last_purchase", "op": ">=", "value": 180, "params": {}}],
        [],
        0,
        False,
        "A customer without a purchase for 180 days.",
    ),
    (
        "Silent for a year",
        "churned",
        "all",
        [{"metric": "days_since_last_purchase", "op": ">=", "value": 365, "params": {}}],
        [],
        0,
        False,
        "A customer without a purchase for 365 days.",
    ),
    (
        "Win-back purchase",
        "retention",
        "all",
        [{"metric": "bought_since_stage_entered", "op": "=", "value": True, "params": {}}],
        ["at_risk", "churned"],
        0,
        True,
        "An at-risk or churned customer bought again: back to retention, recorded as a win-back.",
    ),
]


def seed(apps, schema_editor):
    Stage = apps.get_model("stages", "Stage")
    StageRule = apps.get_model("stages", "StageRule")
    stages = {stage.slug: stage for stage in Stage.objects.all()}
    for name, target, match, conditions, from_slugs, priority, win_back, description in DEFAULT_RULES:
        if target not in stages or StageRule.objects.filter(name=name, stage=stages[target]).exists():
            continue  # a business that dropped or already has this stage rule keeps its own set-up
        rule = StageRule.objects.create(
            name=name,
            stage=stages[target],
            match=match,
            conditions=conditions,
            priority=priority,
            is_win_back=win_back,
            description=description,
        )
        rule.from_stages.set([stages[slug] for slug in from_slugs if slug in stages])


def unseed(apps, schema_editor):
    StageRule = apps.get_model("stages", "StageRule")
    StageRule.objects.filter(name__in=[row[0] for row in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("stages", "0002_default_stages")]

    operations = [migrations.RunPython(seed, unseed)]
