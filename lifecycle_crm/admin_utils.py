"""Helpers that keep Django admin fast on tables with millions of rows.

The admin changelist counts the whole table for its paginator; on PostgreSQL a
`COUNT(*)` over 20M touchpoints takes seconds. An unfiltered list uses the planner's
row estimate instead (exact enough for "page 1 of 200,000"); filtered lists, which are
narrow, still count exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property

# Below this many estimated rows an exact count is cheap enough and always right.
ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """A paginator that reads PostgreSQL's row estimate for an unfiltered queryset of a big table."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = _postgres_row_estimate(queryset.model._meta.db_table, using=queryset.db)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


def _postgres_row_estimate(table: str, *, using: str) -> int | None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class LargeTableAdminMixin:
    """For admins of big tables: estimated page counts and no second full count for the "N total" link."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class _DryRunRollback(Exception):
    """Raised inside a savepoint to undo a service call that was only made to validate its input."""


def validate_by_dry_run(form: Any, call: Callable[[], Any]) -> None:
    """Run a service call in a savepoint that is always rolled back, turning its ValidationError into form errors.

    Admin writes go through the services, but Django admin calls `save_model` after the
    form has been accepted, when an error can no longer be shown on the form. Trying the
    service here, inside a savepoint that is rolled back (which also discards its
    on-commit hooks), reports every rule the service enforces as a field error; the
    real call in `save_model` then does the write once.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRunRollback
    except _DryRunRollback:
        return
    except ValidationError as exc:
        add_service_errors(form, exc)


def add_service_errors(form: Any, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form: known fields on the field, anything else on the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        target = field if field in form.fields and field != NON_FIELD_ERRORS else None
        messages = errors if target else [f"{field}: {message}" for message in errors]
        if field in ("non_field_errors", NON_FIELD_ERRORS):
            messages = errors
        for message in messages:
            form.add_error(target, message)


def admin_changelist_url(model: Any) -> str:
    """The admin changelist URL of a model (for "see all" links from inlines)."""

    return reverse(f"{admin.site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")


class ComputedAdmin(admin.ModelAdmin):
    """Rows a recompute writes: viewable and deletable (to force a clean recompute), never added or edited by hand.

    An edit would be overwritten by the next run and would silently disagree with the touchpoints.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
