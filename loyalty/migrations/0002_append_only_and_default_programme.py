"""The ledger's append-only trigger, and a default programme so a fresh install earns at once.

The trigger refuses any UPDATE of a ledger row's facts (only `created_by` may be nulled when
a user is deleted); corrections are new rows. Frozen here: a change is a new migration
(STYLE.md 14), and tests/loyalty/test_ledger.py checks it is installed.

The default stage rules added here read loyalty's registered metrics (loyalty.rule_metrics):
a Gold member is in the loyalty stage, a contact with a referred friend who bought is an advocate.
"""

from django.db import migrations

FACT_COLUMNS = (
    "member_id, kind, points, occurred_at, recorded_at, expires_at, touchpoint_id, rule_id, transition_id,"
    " referral_id, note"
)
MESSAGE = "loyalty_pointsentry is append-only: write a correcting entry instead"

POSTGRES_UP = [
    "CREATE OR REPLACE FUNCTION loyalty_points_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    f" $$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$;",
    f"CREATE TRIGGER loyalty_points_entry_no_update BEFORE UPDATE OF {FACT_COLUMNS} ON loyalty_pointsentry"
    " FOR EACH ROW EXECUTE FUNCTION loyalty_points_entry_append_only();",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS loyalty_points_entry_no_update ON loyalty_pointsentry;",
    "DROP FUNCTION IF EXISTS loyalty_points_entry_append_only();",
]
SQLITE_UP = [
    f"CREATE TRIGGER loyalty_points_entry_no_update BEFORE UPDATE OF {FACT_COLUMNS} ON loyalty_pointsentry"
    f" BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS loyalty_points_entry_no_update;"]


def _run(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql)


def trigger_up(apps, schema_editor):
    _run(schema_editor, POSTGRES_UP if schema_editor.connection.vendor == "postgresql" else SQLITE_UP)


def trigger_down(apps, schema_editor):
    _run(schema_editor, POSTGRES_DOWN if schema_editor.connection.vendor == "postgresql" else SQLITE_DOWN)


def seed(apps, schema_editor):
    Programme = apps.get_model("loyalty", "Programme")
    Tier = apps.get_model("loyalty", "Tier")
    EarningRule = apps.get_model("loyalty", "EarningRule")
    Reward = apps.get_model("loyalty", "Reward")
    Stage = apps.get_model("stages", "Stage")
    StageRule = apps.get_model("stages", "StageRule")
    programme = Programme.objects.create(
        name="Lifecycle Rewards",
        slug="rewards",
        is_default=True,
        points_per_unit=1,
        point_value="0.01",
        expiry_months=12,
        tier_basis="points",
        tier_window_days=365,
        referrer_points=500,
        friend_points=250,
    )
    member = Tier.objects.create(programme=programme, slug="member", name="Member", rank=0, threshold=0)
    silver = Tier.objects.create(programme=programme, slug="silver", name="Silver", rank=1, threshold=500)
    gold = Tier.objects.create(programme=programme, slug="gold", name="Gold", rank=2, threshold=2000)
    del member
    EarningRule.objects.create(programme=programme, name="1 point per unit spent", kind="spend")
    EarningRule.objects.create(
        programme=programme, name="Review", kind="touchpoint", touchpoint_kind="review", points=50
    )
    EarningRule.objects.create(
        programme=programme, name="Survey answered", kind="touchpoint", touchpoint_kind="survey_response", points=20
    )
    EarningRule.objects.create(
        programme=programme, name="Silver ×1.25", kind="multiplier", tier=silver, multiplier="1.25"
    )
    EarningRule.objects.create(programme=programme, name="Gold ×1.5", kind="multiplier", tier=gold, multiplier="1.5")
    first = Stage.objects.filter(slug="purchase").first()
    if first is not None:
        EarningRule.objects.create(
            programme=programme, name="Welcome bonus (first purchase)", kind="stage_entry", stage=first, points=100
        )
    Reward.objects.create(programme=programme, name="Free shipping", points_price=200)
    Reward.objects.create(programme=programme, name="5.00 voucher", points_price=500)
    Reward.objects.create(programme=programme, name="Tote bag", points_price=1500, stock=50)
    for slug, name, metric, description in (
        (
            "loyalty",
            "Gold loyalty member",
            "loyalty_tier_rank",
            "Reached the Gold tier (rank 2) of the loyalty programme.",
        ),
        (
            "advocacy",
            "Referred a friend who bought",
            "successful_referrals",
            "A referred friend made a first purchase.",
        ),
    ):
        stage = Stage.objects.filter(slug=slug).first()
        if stage is None:
            continue
        value = 2 if metric == "loyalty_tier_rank" else 1
        StageRule.objects.create(
            name=name,
            stage=stage,
            match="all",
            conditions=[{"metric": metric, "op": ">=", "value": value, "params": {}}],
            description=description,
        )


def unseed(apps, schema_editor):
    apps.get_model("stages", "StageRule").objects.filter(
        name__in=["Gold loyalty member", "Referred a friend who bought"]
    ).delete()
    apps.get_model("loyalty", "Programme").objects.filter(slug="rewards").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0001_initial"),
        ("stages", "0004_transition_contact_covering_index"),
    ]

    operations = [
        migrations.RunPython(trigger_up, trigger_down),
        migrations.RunPython(seed, unseed),
    ]
