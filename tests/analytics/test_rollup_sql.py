"""The rollup triggers' SQL is schema: frozen in a migration, and what PostgreSQL runs is what the code says.

Two checks: the newest frozen migration carries exactly the code's SQL (any database; a change of the
trigger SQL without a new migration fails here), and the trigger functions and triggers installed in
PostgreSQL (pg_proc, pg_trigger) are the code's (a database migrated earlier whose triggers drifted fails).
"""

import ast
import importlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from analytics.daily_facts import EVENTS, TRIGGERS, ZONE_TOKEN, frozen_install_sql, install_sql

MIGRATIONS = Path(__file__).resolve().parents[2] / "analytics" / "migrations"


def _frozen_migrations() -> list[str]:
    """Names of the analytics migrations that freeze trigger SQL (a module-level STATEMENTS), oldest first."""
    names = []
    for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "STATEMENTS" for node in tree.body):
            names.append(path.stem)
    return names


def test_the_newest_frozen_migration_carries_the_codes_trigger_sql():
    names = _frozen_migrations()
    assert names, "no migration freezes the rollup triggers"
    newest = importlib.import_module(f"analytics.migrations.{names[-1]}")
    assert frozen_install_sql() == newest.STATEMENTS, (
        "the rollup trigger SQL changed: run `python manage.py rollup_sql_migration` (never edit an applied migration)"
    )
    assert newest.ZONE_TOKEN == ZONE_TOKEN


def test_frozen_migrations_import_no_application_code():
    for name in _frozen_migrations():
        tree = ast.parse((MIGRATIONS / f"{name}.py").read_text(encoding="utf-8"))
        imported = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert all(module.split(".")[0] == "django" for module in imported), (name, imported)


def _function_body(statement: str) -> str:
    return re.search(r"\$fn\$(.*)\$fn\$", statement, re.DOTALL).group(1)


@pytest.mark.django_db
def test_the_triggers_installed_in_postgresql_are_the_codes():
    if connection.vendor != "postgresql":
        pytest.skip("triggers exist on PostgreSQL only (runs in the PostgreSQL pass)")
    expected = {
        re.search(r"FUNCTION (\w+)\(\)", s).group(1): _function_body(s)
        for s in install_sql()
        if s.lstrip().startswith("CREATE OR REPLACE FUNCTION")
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s)", [list(expected)])
        installed = dict(cursor.fetchall())
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname LIKE 'analytics_daily_facts_%%'"
        )
        triggers = set(cursor.fetchall())
    assert set(installed) == set(expected)
    for name, body in expected.items():
        assert installed[name] == body, f"{name} differs from the code: a migration is missing or was edited"
    assert triggers == {(table, f"{function}_{event}") for table, function in TRIGGERS for event in EVENTS}
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('analytics_dailyfact'::regclass, 'pg_class')")
        assert cursor.fetchone()[0] == settings.TIME_ZONE


@pytest.mark.django_db
def test_an_edited_trigger_is_caught():
    """The comparison above fails on drift: a trigger function replaced behind the code's back is seen."""
    if connection.vendor != "postgresql":
        pytest.skip("triggers exist on PostgreSQL only (runs in the PostgreSQL pass)")
    function = TRIGGERS[0][1]
    with connection.cursor() as cursor:
        body = "$fn$ BEGIN RETURN NULL; END $fn$"
        cursor.execute(f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS {body}")
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
        installed = cursor.fetchone()[0]
    code = next(s for s in install_sql() if f"FUNCTION {function}()" in s)
    assert installed != _function_body(code)
