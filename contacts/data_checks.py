"""Find rows stored before the input rules (lifecycle_crm.validation) that break them.

Why: the rules now refuse such input at every door, but rows written earlier stay. A date
out of range once in UTC (PostgreSQL keeps year 0 as "1 BC") cannot even be read into
Python, so each check is one set-based statement that compares in SQL and reads ids and a
text rendering of the value only, never the value itself. The `check_data` command reports
what these find; fixing a row stays a person's decision (a wrong year is not ours to guess).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

from contacts.models import Contact, Touchpoint
from lifecycle_crm.validation import ATTRIBUTES_MAX_BYTES, EARLIEST_MOMENT, FUTURE_LIMIT


@dataclass
class DataProblem:
    """One rule broken by stored rows: how many, and a few of them (id and the offending value as text)."""

    rule: str
    table: str
    count: int
    examples: list[tuple[int, str]] = field(default_factory=list)


def _moment_checks() -> list[tuple[str, str, str]]:
    return [
        ("touchpoint occurred_at out of range", Touchpoint._meta.db_table, "occurred_at"),
        ("contact acquired_at out of range", Contact._meta.db_table, "acquired_at"),
        ("contact stage_entered_at out of range", Contact._meta.db_table, "stage_entered_at"),
    ]


def _run(rule: str, table: str, where: str, shown: str, params: list, limit: int) -> DataProblem | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
        count = cursor.fetchone()[0]
        if not count:
            return None
        cursor.execute(
            f"SELECT id, CAST({shown} AS TEXT) FROM {table} WHERE {where} ORDER BY id LIMIT %s",
            [*params, limit],
        )
        return DataProblem(rule=rule, table=table, count=count, examples=[(pk, text) for pk, text in cursor.fetchall()])


def data_problems(*, limit: int = 10, now: dt.datetime | None = None) -> list[DataProblem]:
    """Every stored row that breaks an input rule, grouped by rule (a few examples each)."""
    now = now or timezone.now()
    latest = now + FUTURE_LIMIT
    postgres = connection.vendor == "postgresql"
    problems: list[DataProblem | None] = []
    for rule, table, column in _moment_checks():
        if postgres:
            where, params = f"({column} < %s OR {column} > %s)", [EARLIEST_MOMENT, latest]
        else:
            # SQLite keeps UTC text 'YYYY-MM-DD HH:MM:SS…'; a year-0 row written by an older version reads '0000-…'.
            where = f"({column} < %s OR {column} > %s)"
            params = [EARLIEST_MOMENT.strftime("%Y-%m-%d %H:%M:%S"), latest.strftime("%Y-%m-%d %H:%M:%S.%f")]
        problems.append(_run(rule, table, where, column, params, limit))
    size = "octet_length(attributes::text)" if postgres else "length(CAST(attributes AS BLOB))"
    problems.append(
        _run(
            f"contact attributes larger than {ATTRIBUTES_MAX_BYTES // 1024} KB",
            Contact._meta.db_table,
            f"{size} > %s",
            "substr(CAST(attributes AS TEXT), 1, 60)" if not postgres else "left(attributes::text, 60)",
            [ATTRIBUTES_MAX_BYTES],
            limit,
        )
    )
    if not postgres:
        # PostgreSQL cannot hold a NUL in text or jsonb at all; SQLite could, before the rules.
        nul = "instr({col}, char(0)) > 0"
        for rule, table, column in [
            ("contact attributes with a NUL", Contact._meta.db_table, "attributes"),
            ("touchpoint note with a NUL", Touchpoint._meta.db_table, "note"),
            ("contact company with a NUL", Contact._meta.db_table, "company"),
        ]:
            problems.append(_run(rule, table, nul.format(col=column), f"replace({column}, char(0), '\\0')", [], limit))
    return [p for p in problems if p is not None]
