"""Shared fixtures: users for each role, and the switch that turns service skips into failures.

A newcomer's bare machine has no PostgreSQL, Redis, Celery worker or Chromium, so tests
that need them skip with a reason. CI sets CRM_REQUIRE_SERVICES=1: then every skip is a
failure, so CI always proves them.
"""

import os

import pytest

from tests.services import OTHER_BACKEND_SKIP

REQUIRE_SERVICES = os.environ.get("CRM_REQUIRE_SERVICES", "") in ("1", "true", "yes")
EXPECT_DB = os.environ.get("CRM_EXPECT_DB", "")


def pytest_sessionstart(session):
    # CI runs the suite once per database; make sure each pass really is on the one it names.
    if EXPECT_DB:
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if EXPECT_DB not in engine:
            raise pytest.UsageError(f"CRM_EXPECT_DB={EXPECT_DB} but the database engine is {engine}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (REQUIRE_SERVICES and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    # A PostgreSQL-only test skipped in the SQLite pass is proven by the PostgreSQL pass.
    if OTHER_BACKEND_SKIP not in reason:
        report.outcome = "failed"
        report.longrepr = f"CRM_REQUIRE_SERVICES is set, so this skip is a failure: {reason}"


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_user(
        username="admin", email="admin@example.com", password="pw-admin-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def marketer(db):
    from tests.factories import UserFactory

    return UserFactory(username="marketer", role="marketer")


@pytest.fixture
def rep(db):
    from tests.factories import UserFactory

    return UserFactory(username="rep", role="sales_rep")


@pytest.fixture
def other_rep(db):
    from tests.factories import UserFactory

    return UserFactory(username="other_rep", role="sales_rep")


@pytest.fixture
def outsider(db):
    """A logged-in user with no role at all."""
    from tests.factories import UserFactory

    return UserFactory(username="outsider", role=None)
