"""The per-contact facts moved from analytics to metrics (and the stage snapshot to stages) by state only.

The migrations touch no table (so a database migrated before keeps its rows and triggers), the
content types and their granted permissions move with the models, and the engine no longer imports
analytics. (Migrating a whole test database backwards would also unapply later helpers' migrations,
so the content types' move is run directly.)
"""

import ast
import datetime as dt
import importlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import migrations
from django.db.migrations.loader import MigrationLoader

from metrics.models import ContactMetrics
from stages.models import StageSnapshot
from tests.factories import ContactFactory, stage

MOVED = {"contactmetrics": "metrics", "contactpurchasemonth": "metrics", "stagesnapshot": "stages"}
# Found by name, so a renumbering at merge time does not break the test.
MOVE = importlib.import_module(
    "analytics.migrations."
    + next(Path(__file__).resolve().parents[2].glob("analytics/migrations/*_move_per_contact_facts.py")).stem
)


def test_the_move_changes_no_table_only_the_apps_state():
    """Every operation of the three migrations is state-only: the tables, rows and triggers stay as they were."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for key in [
        ("metrics", "0001_initial"),
        ("stages", "0005_stagesnapshot"),
        ("analytics", MOVE.__name__.split(".")[-1]),
    ]:
        for operation in loader.disk_migrations[key].operations:
            if isinstance(operation, migrations.SeparateDatabaseAndState):
                assert operation.database_operations == []
            else:
                assert isinstance(operation, migrations.RunPython)  # the content types' move
    state = loader.project_state()
    assert state.models["metrics", "contactmetrics"].options["db_table"] == "analytics_contactmetrics"
    assert state.models["metrics", "contactpurchasemonth"].options["db_table"] == "analytics_contactpurchasemonth"
    assert state.models["stages", "stagesnapshot"].options["db_table"] == "analytics_stagesnapshot"
    assert not {"contactmetrics", "contactpurchasemonth", "stagesnapshot"} & {
        m for a, m in state.models if a == "analytics"
    }


@pytest.mark.django_db(transaction=True)
def test_a_database_migrated_before_the_move_keeps_its_rows_and_permissions():
    contact = ContactFactory()
    ContactMetrics.objects.create(contact=contact, purchase_count=3, revenue=Decimal("42.00"))
    StageSnapshot.objects.create(date=dt.date(2026, 1, 31), stage=stage("awareness"), contacts=7)
    readers = Group.objects.create(name="Metric readers")
    readers.permissions.add(Permission.objects.get(codename="view_contactmetrics"))

    # As before the move: the content types (and so the granted permissions) belong to analytics.
    MOVE.backwards(django_apps, None)
    ContentType.objects.clear_cache()
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {"analytics"}
    assert readers.permissions.get().content_type.app_label == "analytics"

    MOVE.forwards(django_apps, None)
    ContentType.objects.clear_cache()
    assert dict(ContentType.objects.filter(model__in=MOVED).values_list("model", "app_label")) == MOVED
    granted = readers.permissions.get()
    assert (granted.codename, granted.content_type.app_label) == ("view_contactmetrics", "metrics")
    assert ContactMetrics.objects.get(contact=contact).purchase_count == 3
    assert StageSnapshot.objects.get(date=dt.date(2026, 1, 31)).contacts == 7


def test_the_engine_imports_nothing_from_analytics():
    root = Path(__file__).resolve().parents[2] / "stages"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "analytics" or n.startswith("analytics.")]
    assert offenders == []


@pytest.mark.django_db
def test_the_nightly_finish_runs_the_steps_analytics_registers_after_the_snapshot(monkeypatch):
    from stages import services as stage_services
    from stages.engine import EvaluationResult

    assert list(stage_services.FINISH_STEPS)[:2] == ["customer_value", "daily_facts"]  # AnalyticsConfig.ready
    seen = []
    steps = {"first": lambda *, as_of: seen.append(("first", as_of)) or 1, "second": lambda *, as_of: 2}
    monkeypatch.setattr(stage_services, "FINISH_STEPS", steps)
    result = stage_services.lifecycle_finish(
        as_of=dt.date(2026, 1, 31), result=stage_services.RecomputeResult(evaluation=EvaluationResult())
    )
    assert seen == [("first", dt.date(2026, 1, 31))]
    assert result.steps == {"first": 1, "second": 2}
    assert result.snapshot_rows == StageSnapshot.objects.filter(date=dt.date(2026, 1, 31)).count() > 0
