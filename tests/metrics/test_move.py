"""The per-contact facts moved from analytics to metrics (and the stage snapshot to stages) by state only.

A database migrated before the move keeps its rows, tables and granted permissions; the
engine no longer imports analytics.
"""

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from metrics.models import ContactMetrics, ContactPurchaseMonth
from stages.models import StageSnapshot
from tests.factories import ContactFactory, stage

BEFORE_THE_MOVE = [
    ("analytics", "0010_acquisition_facts"),
    ("metrics", None),
    ("stages", "0004_transition_contact_covering_index"),
]
MOVED = {"contactmetrics": "metrics", "contactpurchasemonth": "metrics", "stagesnapshot": "stages"}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_a_database_migrated_before_the_move_keeps_its_rows_and_permissions():
    contact = ContactFactory()
    ContactMetrics.objects.create(contact=contact, purchase_count=3, revenue=Decimal("42.00"))
    ContactPurchaseMonth.objects.create(contact=contact, month=24310, cohort=24310, purchases=1, revenue=Decimal("42"))
    StageSnapshot.objects.create(date=dt.date(2026, 1, 31), stage=stage("awareness"), contacts=7)
    readers = Group.objects.create(name="Metric readers")
    readers.permissions.add(Permission.objects.get(codename="view_contactmetrics"))

    _migrate(BEFORE_THE_MOVE)
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {"analytics"}
    assert readers.permissions.get().content_type.app_label == "analytics"

    _migrate(None)
    assert dict(ContentType.objects.filter(model__in=MOVED).values_list("model", "app_label")) == MOVED
    metrics = ContactMetrics.objects.get(contact=contact)
    assert (metrics.purchase_count, metrics.revenue) == (3, Decimal("42.00"))
    assert ContactPurchaseMonth.objects.get(contact=contact).month == 24310
    assert StageSnapshot.objects.get(date=dt.date(2026, 1, 31)).contacts == 7
    granted = readers.permissions.get()
    assert (granted.codename, granted.content_type.app_label) == ("view_contactmetrics", "metrics")


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
