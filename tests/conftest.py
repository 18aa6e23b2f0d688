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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Give every transactional test `serialized_rollback`, so each one starts from the migrated data.

    A transactional test ends with a flush of every table. Without serialized_rollback the
    flush drops the rows data migrations made (stages, stage rules, role groups) and
    post_migrate recreates content types and permissions under new ids (PostgreSQL does not
    reuse ids); the next test that does use serialized_rollback then restores the old
    content-type rows and fails on their unique (app_label, model) key. With it everywhere,
    flushes skip post_migrate and every transactional test gets the migrated state back.
    """
    from pytest_django.plugin import validate_django_db

    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = getattr(item, "fixturenames", ())
        if marker is not None:
            transaction, reset_sequences, databases, serialized, available_apps = validate_django_db(marker)
        else:
            transaction, reset_sequences, databases, serialized, available_apps = False, False, None, False, None
        transactional = transaction or reset_sequences or "transactional_db" in fixtures or "live_server" in fixtures
        if transactional and not serialized:
            item.add_marker(
                pytest.mark.django_db(
                    transaction=True,
                    reset_sequences=reset_sequences,
                    databases=databases,
                    serialized_rollback=True,
                    available_apps=available_apps,
                ),
                append=False,
            )


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


@pytest.fixture(autouse=True)
def _fresh_result_cache():
    """Every test starts with an empty cache: the result layer (analytics.results) keys results by query and
    day, not by the data a test made, so a result cached by one test must not answer the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
