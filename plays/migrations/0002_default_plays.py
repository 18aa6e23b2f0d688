"""Install the default plays, paused until an admin turns them on (issue 7, "Defaults")."""

import datetime as dt

from django.db import migrations

THANK_YOU_TEXT = """Hi {{ contact.first_name|default:"there" }},

Thank you for your first order with us. We are glad to have you.
If anything is not right, just reply to this email.

Unsubscribe: {{ unsubscribe_url }}
"""
THANK_YOU_HTML = """<p>Hi {{ contact.first_name|default:"there" }},</p>
<p>Thank you for your first order with us. We are glad to have you.<br>If anything is not right, just reply.</p>
<p style="font-size:12px;color:#64748b"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
"""
CART_TEXT = """Hi {{ contact.first_name|default:"there" }},

You left something in your cart yesterday. It is still waiting for you.

Unsubscribe: {{ unsubscribe_url }}
"""
CART_HTML = """<p>Hi {{ contact.first_name|default:"there" }},</p>
<p>You left something in your cart yesterday. It is still waiting for you.</p>
<p style="font-size:12px;color:#64748b"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
"""
REVIEW_TEXT = """Hi {{ contact.first_name|default:"there" }},

You have been with us for a while{% if metrics and metrics.purchase_count %} ({{ metrics.purchase_count }} orders){% endif %}.
Would you tell others what you think? A short review helps a lot.

Unsubscribe: {{ unsubscribe_url }}
"""
REVIEW_HTML = """<p>Hi {{ contact.first_name|default:"there" }},</p>
<p>You have been with us for a while{% if metrics and metrics.purchase_count %} ({{ metrics.purchase_count }} orders){% endif %}.
Would you tell others what you think? A short review helps a lot.</p>
<p style="font-size:12px;color:#64748b"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
"""
WIN_BACK_TEXT = """Hi {{ contact.first_name|default:"there" }},

We have not seen you in a while and we miss you. Here is 15% off your next order: WELCOMEBACK15.

Unsubscribe: {{ unsubscribe_url }}
"""
WIN_BACK_HTML = """<p>Hi {{ contact.first_name|default:"there" }},</p>
<p>We have not seen you in a while and we miss you. Here is 15% off your next order: <strong>WELCOMEBACK15</strong>.</p>
<p style="font-size:12px;color:#64748b"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
"""

DEFAULT_PLAYS = [
    {
        "name": "Thank-you after first purchase",
        "description": "Thanks a new customer when they enter the purchase stage (their first purchase).",
        "trigger_type": "stage_entered",
        "trigger_stage": "purchase",
        "goal_stage": "retention",
        "goal_window": dt.timedelta(days=365),
        "actions": [
            {
                "action_type": "send_email",
                "subject": "Thank you for your first order, {{ contact.first_name|default:'friend' }}",
                "body_text": THANK_YOU_TEXT,
                "body_html": THANK_YOU_HTML,
            }
        ],
    },
    {
        "name": "Cart-abandonment reminder",
        "description": "One day after a cart is abandoned with no purchase since, reminds the contact.",
        "trigger_type": "silence",
        "trigger_kind": "cart_abandoned",
        "silence_days": 1,
        "quiet_kinds": ["purchase"],
        "goal_stage": "purchase",
        "goal_window": dt.timedelta(days=7),
        "actions": [
            {
                "action_type": "send_email",
                "subject": "You left something in your cart",
                "body_text": CART_TEXT,
                "body_html": CART_HTML,
            }
        ],
    },
    {
        "name": "Review request on entering loyalty",
        "description": "Three days after a customer becomes loyal, asks for a review.",
        "trigger_type": "stage_entered",
        "trigger_stage": "loyalty",
        "delay": dt.timedelta(days=3),
        "goal_stage": "advocacy",
        "goal_window": dt.timedelta(days=60),
        "actions": [
            {
                "action_type": "send_email",
                "subject": "Would you write us a review?",
                "body_text": REVIEW_TEXT,
                "body_html": REVIEW_HTML,
            }
        ],
    },
    {
        "name": "Owner task on entering at-risk",
        "description": "When a customer goes quiet (enters at risk), gives their rep a call task.",
        "trigger_type": "stage_entered",
        "trigger_stage": "at_risk",
        "condition_stage": "at_risk",
        "goal_stage": "retention",
        "goal_window": dt.timedelta(days=60),
        "actions": [
            {
                "action_type": "create_task",
                "task_title": "Call {{ contact.full_name }}: gone quiet (at risk)",
                "task_due_days": 2,
            }
        ],
    },
    {
        "name": "Win-back email on churn",
        "description": "When a customer churns, sends a win-back offer.",
        "trigger_type": "stage_entered",
        "trigger_stage": "churned",
        "goal_stage": "retention",
        "goal_window": dt.timedelta(days=90),
        "actions": [
            {
                "action_type": "send_email",
                "subject": "We miss you, {{ contact.first_name|default:'friend' }}",
                "body_text": WIN_BACK_TEXT,
                "body_html": WIN_BACK_HTML,
            }
        ],
    },
]


def install(apps, schema_editor):
    Play = apps.get_model("plays", "Play")
    PlayAction = apps.get_model("plays", "PlayAction")
    Stage = apps.get_model("stages", "Stage")
    stages = {s.slug: s for s in Stage.objects.all()}
    for spec in DEFAULT_PLAYS:
        spec = dict(spec)
        actions = spec.pop("actions")
        for field in ("trigger_stage", "goal_stage", "condition_stage"):
            if field in spec:
                slug = spec.pop(field)
                if slug not in stages:
                    break  # the business dropped this stage: skip the play rather than half-install it
                spec[field] = stages[slug]
        else:
            if Play.objects.filter(name=spec["name"]).exists():
                continue
            play = Play.objects.create(status="paused", **spec)
            for position, action in enumerate(actions, start=1):
                PlayAction.objects.create(play=play, position=position, **action)


def uninstall(apps, schema_editor):
    Play = apps.get_model("plays", "Play")
    Play.objects.filter(name__in=[spec["name"] for spec in DEFAULT_PLAYS], runs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("plays", "0001_initial"), ("stages", "0002_default_stages")]

    operations = [migrations.RunPython(install, uninstall)]
