"""Writes of touchpoints: set-based, idempotent ingestion and the fan-out after commit.

A batch resolves its contacts and campaigns with one query per key type and stores its new rows
with one INSERT, skipping rows whose `(source, external_id)` is already stored (on PostgreSQL the
INSERT skips them itself with ON CONFLICT DO NOTHING; elsewhere they are looked up first). In the
same transaction it sends `touchpoints_stored`, whose receiver stores one outbox event (published
after commit) for the Celery task touchpoints_created_task, which announces the new rows in a
worker: the receivers of stages, plays and webhooks enqueue their own work (outbox rows too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.actor import actor_split
from campaigns.models import Campaign
from contacts import signals
from contacts.aliases import alias_normalise, alias_resolve
from contacts.models import (
    AliasKind,
    Contact,
    Touchpoint,
    TouchpointSource,
)
from contacts.touchpoint_rows import _SOURCES, touchpoint_row_clean
from lifecycle_crm.errors import BatchValidationError

logger = logging.getLogger(__name__)

MAX_BATCH = 1000

# --- touchpoints --------------------------------------------------------------------------


class TouchpointResult:
    """One item of an ingestion: the stored touchpoint's id, contact and external id, and whether this call created it.

    The model instance (`touchpoint`) of a new item is built on first access: a 1,000-item API
    batch answers with ids only, and building 1,000 instances cost ~70 ms of its CPU.
    """

    __slots__ = ("_touchpoint", "_values", "contact_id", "created", "external_id", "pk")

    def __init__(self, *, pk: int, created: bool, values: dict[str, Any] | None = None, touchpoint: Any = None):
        self.pk, self.created = pk, created
        self._touchpoint, self._values = touchpoint, values
        if touchpoint is not None:
            self.contact_id, self.external_id = touchpoint.contact_id, touchpoint.external_id
        else:
            self.contact_id, self.external_id = values["contact_id"], values.get("external_id")

    @property
    def touchpoint(self) -> Touchpoint:
        if self._touchpoint is None:
            touchpoint = Touchpoint(pk=self.pk, **self._values)
            touchpoint._state.adding = False
            touchpoint._state.db = connection.alias
            self._touchpoint = touchpoint
        return self._touchpoint


def _resolve_contacts(cleaned: list[dict[str, Any]]) -> dict[tuple[str, Any], int]:
    """Map every (key type, value) to a contact id with one query per key type."""
    wanted: dict[str, set] = {"contact": set(), "contact_external_id": set(), "contact_email": set()}
    for row in cleaned:
        key, value = row["_contact_key"]
        wanted[key].add(value)
    found: dict[tuple[str, Any], int] = {}
    ids = set()
    for value in wanted["contact"]:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            continue
        if 0 < pk < 2**63:
            ids.add(pk)
    if ids:
        for pk, _ in _contacts_matching("id", ids):
            found[("contact", pk)] = pk
            found[("contact", str(pk))] = pk
    if wanted["contact_external_id"]:
        for pk, ext in _contacts_matching("external_id", {str(v) for v in wanted["contact_external_id"]}):
            found[("contact_external_id", ext)] = pk
    if wanted["contact_email"]:
        spellings: dict[str, list[Any]] = {}
        for value in wanted["contact_email"]:
            spellings.setdefault(str(value).strip().lower(), []).append(value)
        for pk, lemail in _contacts_matching("lower_email", set(spellings)):
            for value in spellings[lemail]:  # "Ann@x.com" and "ann@x.com" in one batch are the same contact
                found[("contact_email", value)] = pk
    _resolve_aliases(wanted, found)
    return found


def _resolve_aliases(wanted: dict[str, set], found: dict[tuple[str, Any], int]) -> None:
    """Keys no contact carries may be aliases of a survivor (a merged-away email or external id): one query each."""
    for key, kind in (("contact_external_id", AliasKind.EXTERNAL_ID), ("contact_email", AliasKind.EMAIL)):
        missing = [value for value in wanted[key] if (key, value) not in found]
        if not missing:
            continue
        resolved = alias_resolve(kind=kind, values=[str(v) for v in missing])
        for value in missing:
            contact_id = resolved.get(alias_normalise(kind, str(value)))
            if contact_id is not None:
                found[(key, value)] = contact_id


def _contacts_matching(key: str, values: set[Any]) -> list[tuple[int, Any]]:
    """(id, value) of the contacts whose `id`, `external_id` or `lower_email` is one of `values`.

    On PostgreSQL the values travel as one JSON array (`… IN (SELECT json_array_elements_text(%s))`,
    a nested loop over the unique index): an ORM `IN (%s, %s, …)` of 1,000 values cost ~10 ms
    of CPU per batch in Django's lookup preparation and psycopg2's adaptation of each value.
    """
    if connection.vendor != "postgresql":
        if key == "lower_email":
            query = Contact.objects.annotate(lemail=Lower("email")).filter(lemail__in=values)
            return list(query.values_list("pk", "lemail"))
        return list(Contact.objects.filter(**{f"{key}__in": values}).values_list("pk", key))
    quote = connection.ops.quote_name
    column, cast = {
        "id": (quote("id"), "::bigint"),
        "external_id": (quote("external_id"), ""),
        "lower_email": (f"LOWER({quote('email')})", ""),
    }[key]
    sql = (
        f"SELECT {quote('id')}, {column} FROM {quote(Contact._meta.db_table)}"
        f" WHERE {column} IN (SELECT json_array_elements_text(%s::json){cast})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(list(values))])
        return cursor.fetchall()


def _resolve_campaigns(cleaned: list[dict[str, Any]]) -> tuple[dict[str, int], set[int]]:
    codes = {row["utm_campaign"] for row in cleaned if row.get("utm_campaign")}
    ids = {row["campaign_id"] for row in cleaned if row.get("campaign_id")}
    by_code = dict(Campaign.objects.filter(utm_campaign__in=codes).values_list("utm_campaign", "pk")) if codes else {}
    known = set(Campaign.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    return by_code, known


def touchpoint_bulk_create(
    *,
    rows: Sequence[dict[str, Any]],
    source: str = TouchpointSource.API,
    logged_by: Any = None,
    max_batch: int | None = MAX_BATCH,
    enqueue: bool = True,
    announce: bool | None = None,
) -> list[TouchpointResult]:
    """Validate and store a batch of touchpoints: all valid items are written, or none.

    Idempotent by `(source, external_id)`: an item whose key is already stored (or repeated
    earlier in the same batch) returns the stored touchpoint with `created=False`. Raises
    BatchValidationError (per-item field messages) when any item is invalid. `logged_by` may be
    a user or an API-key principal (provenance: both are recorded). `announce` (default: not
    for imports) lets the new facts cause side effects; imported history never emails anyone.
    """
    if announce is None:
        announce = source != TouchpointSource.IMPORT
    if source not in _SOURCES:
        raise ValidationError({"source": f"{source!r} is not a touchpoint source."})
    if max_batch is not None and len(rows) > max_batch:
        raise ValidationError({"non_field_errors": f"At most {max_batch} touchpoints per request."})
    cleaned: list[dict[str, Any]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    now = timezone.now()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[index] = {"non_field_errors": ["Each item must be a JSON object."]}
            continue
        try:
            cleaned.append(touchpoint_row_clean(row, source=source, now=now))
        except ValidationError as exc:
            errors[index] = exc.message_dict
            cleaned.append({})
    if errors:
        raise BatchValidationError(errors)

    contact_ids = _resolve_contacts(cleaned)
    by_code, known_campaigns = _resolve_campaigns(cleaned)
    for index, row in enumerate(cleaned):
        key = row.pop("_contact_key")
        contact_id = contact_ids.get(key)
        if contact_id is None:
            errors[index] = {key[0]: [f"No contact matches {key[1]!r}."]}
            continue
        row["contact_id"] = contact_id
        if row.get("campaign_id") and row["campaign_id"] not in known_campaigns:
            errors[index] = {"campaign": [f"No campaign with id {row['campaign_id']}."]}
        elif not row.get("campaign_id") and row.get("utm_campaign") in by_code:
            row["campaign_id"] = by_code[row["utm_campaign"]]
    if errors:
        raise BatchValidationError(errors)

    actor = actor_split(logged_by)
    for attempt in range(3):
        try:
            results = _insert_batch(
                cleaned,
                source=source,
                user=actor.user,
                api_key_id=actor.api_key_id,
                enqueue=enqueue,
                announce=announce,
            )
            break
        except IntegrityError:
            # A concurrent request inserted one of our external ids between our check and
            # our insert; the whole batch rolled back, so look again and skip it this time.
            if attempt == 2:
                raise
    return results


@transaction.atomic
def _insert_batch(
    cleaned: list[dict[str, Any]],
    *,
    source: str,
    user: Any,
    api_key_id: int | None = None,
    enqueue: bool = True,
    announce: bool = True,
) -> list[TouchpointResult]:
    """Insert the batch's new items; items whose `(source, external_id)` is stored come back with created=False.

    On PostgreSQL the INSERT itself skips stored keys (`ON CONFLICT … DO NOTHING`; a key
    being inserted by a concurrent transaction waits for it to commit), and only the skipped
    keys are read back: a fresh batch costs one statement instead of a look-up plus the
    INSERT. Elsewhere the stored keys are looked up first.
    """
    skip_conflicts = connection.vendor == "postgresql"
    keys = {row["external_id"] for row in cleaned if row.get("external_id")}
    existing = {} if skip_conflicts or not keys else _stored_by_external_id(source=source, keys=keys)
    to_create: list[dict[str, Any]] = []
    slots: list[tuple[str, Any]] = []  # ("existing", tp) | ("new", index into to_create)
    pending: dict[str, int] = {}
    now = timezone.now()
    user_id = user.pk if user is not None else None
    for row in cleaned:
        ext = row.get("external_id")
        if ext and ext in existing:
            slots.append(("existing", existing[ext]))
        elif ext and ext in pending:
            slots.append(("new", pending[ext]))
        else:
            if ext:
                pending[ext] = len(to_create)
            row["logged_by_id"], row["created_at"], row["received_at"] = user_id, now, now
            row["api_key_id"] = api_key_id
            to_create.append(row)
            slots.append(("new", len(to_create) - 1))
    ids = _touchpoints_insert(to_create, skip_conflicts=skip_conflicts)
    skipped = {to_create[index]["external_id"] for index, pk in enumerate(ids) if pk is None}
    if skipped:
        existing = _stored_by_external_id(source=source, keys=skipped)
        if len(existing) != len(skipped):
            # Deleted between our INSERT and this read: roll back; the caller tries the batch again.
            raise IntegrityError("a stored touchpoint the insert skipped is gone")
    seen_new: set[int] = set()
    results = []
    for kind, value in slots:
        if kind == "existing":
            results.append(TouchpointResult(pk=value.pk, created=False, touchpoint=value))
        elif ids[value] is None:
            stored = existing[to_create[value]["external_id"]]
            results.append(TouchpointResult(pk=stored.pk, created=False, touchpoint=stored))
        else:
            results.append(TouchpointResult(pk=ids[value], created=value not in seen_new, values=to_create[value]))
            seen_new.add(value)
    created_ids = [r.pk for r in results if r.created]
    if created_ids and enqueue:
        # In the batch's transaction: the receiver's follow-up is an outbox row committed with the touchpoints.
        signals.touchpoints_stored.send(
            sender=Touchpoint,
            touchpoint_ids=created_ids,
            contact_ids=sorted({r.contact_id for r in results if r.created}),
            announce=announce,
        )
    return results


def _stored_by_external_id(*, source: str, keys: Iterable[str]) -> dict[str, Touchpoint]:
    return {tp.external_id: tp for tp in Touchpoint.objects.filter(source=source, external_id__in=keys)}


_INSERT_FIELDS = (
    "contact",
    "kind",
    "channel",
    "occurred_at",
    "amount",
    "score",
    "campaign",
    "logged_by",
    "source",
    "external_id",
    "note",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
    "received_at",
    "api_key",
)


VALUES_INSERT_MAX = 20  # up to this many new touchpoints are inserted with VALUES, more from JSON columns


_ON_CONFLICT = " ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING"


def _json_column(field: Any, values: list[Any]) -> str:
    """One column as a JSON array of text-castable values (datetimes as ISO 8601, decimals as strings)."""
    internal = field.get_internal_type()
    if internal == "DateTimeField":
        iso = {value: value.isoformat() for value in set(values) if value is not None}  # created_at: one value
        values = [None if value is None else iso[value] for value in values]
    elif internal == "DecimalField":
        values = [None if value is None else str(value) for value in values]
    return json.dumps(values)


# Rows per INSERT on SQLite: within its 32,766 bound parameters (SQLite 3.32+), statements short enough to parse fast.
SQLITE_INSERT_ROWS = 500


def _touchpoints_insert_sqlite(rows: list[dict[str, Any]], fields: list[Any]) -> list[int]:
    """Multi-row `INSERT … VALUES … RETURNING id` on SQLite with values adapted per column, not per field call.

    Why: Django's bulk_create compiles every value through the field (`get_db_prep_save`) and, on SQLite, in
    batches of 999 parameters; for the embedded default's CSV import that compile was most of the time.
    Datetimes go through the backend's own adapter (UTC, the format Django stores), decimals as text (what
    Django's sqlite adapter stores); everything else is a plain str/int/None already. RETURNING gives the ids
    in insert order (as bulk_create relies on).
    """
    ops = connection.ops
    adapters: list[Any] = []
    for field in fields:
        internal = field.get_internal_type()
        if internal == "DateTimeField":
            adapters.append(ops.adapt_datetimefield_value)
        elif internal == "DecimalField":
            adapters.append(lambda value: None if value is None else str(value))
        else:
            adapters.append(None)
    columns = ", ".join(ops.quote_name(field.column) for field in fields)
    table = ops.quote_name(Touchpoint._meta.db_table)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    attnames = [field.attname for field in fields]
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), SQLITE_INSERT_ROWS):
            batch = rows[start : start + SQLITE_INSERT_ROWS]
            params: list[Any] = []
            for row in batch:
                for attname, adapt in zip(attnames, adapters, strict=True):
                    value = row.get(attname)
                    params.append(adapt(value) if adapt is not None and value is not None else value)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(batch))} RETURNING id", params
            )
            ids.extend(pk for (pk,) in cursor.fetchall())
    if len(ids) != len(rows):  # cannot happen: an INSERT either stores every row or raises
        raise RuntimeError("touchpoint insert returned a different number of ids")
    return ids


def _touchpoints_insert(rows: list[dict[str, Any]], *, skip_conflicts: bool = False) -> list[int | None]:
    """Insert new touchpoints (clean field values by attname) and return their ids in order.

    With `skip_conflicts` (PostgreSQL only) a row whose `(source, external_id)` is already
    stored is not inserted and its id is None; the rows' external ids must be distinct.

    On PostgreSQL a few rows go in as VALUES; more as `INSERT … SELECT … FROM ROWS FROM
    (json_array_elements_text(<one JSON array per column>), …) RETURNING id`. JSON because
    psycopg2 adapts a Python list into an ARRAY[…] literal element by element, ~60-90 ms
    of CPU for 1,000 rows (strings and datetimes), where json.dumps takes ~5 ms, and the
    server parses one string per column instead of 15,000 constants. PostgreSQL inserts
    and returns rows in the order of the SELECT. Other databases use bulk_create.
    """
    if not rows:
        return []
    # With skip_conflicts, keyed rows go in sorted by key (a stable sort: unkeyed rows keep
    # their order, after them), so concurrent batches that share keys take the unique index's
    # locks in one order and wait for each other instead of deadlocking (found by the API load
    # test: opposite orders deadlocked, and one batch failed after deadlock_timeout). Ids are
    # matched back to the caller's order by key below.
    ordered = (
        sorted(rows, key=lambda row: (row.get("external_id") is None, row.get("external_id") or ""))
        if skip_conflicts
        else rows
    )
    fields = [Touchpoint._meta.get_field(name) for name in _INSERT_FIELDS]
    if connection.vendor == "sqlite":
        if skip_conflicts:
            raise ValueError("skip_conflicts needs PostgreSQL")
        return _touchpoints_insert_sqlite(rows, fields)
    if connection.vendor != "postgresql":
        if skip_conflicts:
            raise ValueError("skip_conflicts needs PostgreSQL")
        objs = Touchpoint.objects.bulk_create([Touchpoint(**row) for row in rows], batch_size=1000)
        return [obj.pk for obj in objs]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(Touchpoint._meta.db_table)
    tail = (_ON_CONFLICT if skip_conflicts else "") + " RETURNING id, external_id"
    if len(rows) <= VALUES_INSERT_MAX:
        # A few rows (a single API POST, a form): plain VALUES plans faster (~0.5 ms).
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(ordered))}{tail}"
        params = [row.get(field.attname) for row in ordered for field in fields]
    else:
        # Text columns stay text, so the INSERT's own cast checks their length (an explicit
        # varchar(n) cast would truncate); the others are cast to the column type.
        selected = ", ".join(
            f"c{i}" if field.get_internal_type() in ("CharField", "TextField") else f"c{i}::{field.db_type(connection)}"
            for i, field in enumerate(fields)
        )
        functions = ", ".join(["json_array_elements_text(%s::json)"] * len(fields))
        names = ", ".join(f"c{i}" for i in range(len(fields)))
        sql = f"INSERT INTO {table} ({columns}) SELECT {selected} FROM ROWS FROM ({functions}) AS u({names}){tail}"
        params = [_json_column(field, [row.get(field.attname) for row in ordered]) for field in fields]
    # wrap_database_errors: a concurrent duplicate must surface as Django's IntegrityError (the caller retries).
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(sql, params)
        returned = cursor.cursor.fetchall()
    if not skip_conflicts:
        if len(returned) != len(rows):  # cannot happen: an INSERT either stores every row or raises
            raise RuntimeError("touchpoint insert returned a different number of ids")
        return [pk for pk, _ in returned]
    by_key = {key: pk for pk, key in returned if key is not None}
    unkeyed = [pk for pk, key in returned if key is None]  # never skipped, returned in insert order
    if len(unkeyed) != sum(1 for row in rows if row.get("external_id") is None):
        raise RuntimeError("touchpoint insert returned a different number of ids")
    unkeyed_ids = iter(unkeyed)
    return [next(unkeyed_ids) if row.get("external_id") is None else by_key.get(row["external_id"]) for row in rows]


def touchpoint_create(
    *, data: dict[str, Any], source: str = TouchpointSource.MANUAL, logged_by: Any = None
) -> TouchpointResult:
    """Store one touchpoint (idempotent by `(source, external_id)`); raises ValidationError with field messages."""
    try:
        return touchpoint_bulk_create(rows=[data], source=source, logged_by=logged_by)[0]
    except BatchValidationError as exc:
        raise ValidationError(exc.errors_by_index[0]) from None
