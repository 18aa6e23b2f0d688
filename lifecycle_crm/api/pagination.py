"""Keyset (cursor) pagination that follows the queryset's own ORDER BY, for lists of millions of rows.

DRF's CursorPagination needs one fixed ordering field; the contact list sorts by several
keys (creation, stage entry, CLV…). This paginator reads the queryset's `order_by` (which
must end with the primary key, so every position is unique), seeks past the last row with
`(k1 > v1) OR (k1 = v1 AND id > v2)` and never counts. Cursors are signed, so a tampered
cursor is a clean 400 and its values never reach SQL unchecked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

SALT = "lifecycle_crm.api.cursor"


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class KeysetPagination(BasePagination):
    """`?cursor=…&page_size=N` (default 50, at most 500); answers `{"next", "previous", "results"}`."""

    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def _ordering(self, queryset: QuerySet) -> list[str]:
        ordering = list(queryset.query.order_by) or list(queryset.model._meta.ordering)
        if not ordering or ordering[-1].lstrip("-") not in ("id", "pk"):
            raise AssertionError(f"KeysetPagination needs an ordering ending in the id, got {ordering}")
        return [str(o) for o in ordering]

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: ["A whole number."]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"From 1 to {self.max_page_size}."]})
        return size

    def _decode(self, request, ordering: list[str]) -> tuple[list[Any], bool] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            payload = signing.loads(raw, salt=SALT)
        except signing.BadSignature:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if (
            not isinstance(payload, dict)
            or payload.get("o") != ordering
            or not isinstance(payload.get("v"), list)
            or len(payload["v"]) != len(ordering)
        ):
            raise ValidationError({self.cursor_query_param: ["This cursor belongs to another ordering or list."]})
        return payload["v"], bool(payload.get("r"))

    @staticmethod
    def _seek(ordering: list[str], values: list[Any], *, reverse: bool) -> Q:
        condition = Q()
        equal = Q()
        for index, term in enumerate(ordering):
            name = term.lstrip("-")
            descending = term.startswith("-") != reverse
            step = Q(**{f"{name}__{'lt' if descending else 'gt'}": values[index]})
            condition = step & equal if index == 0 else condition | (equal & step)
            equal &= Q(**{name: values[index]})
        return condition

    def _link(self, request, ordering: list[str], obj: Any, *, reverse: bool) -> str:
        values = [_encode_value(getattr(obj, term.lstrip("-").replace("pk", "id"))) for term in ordering]
        token = signing.dumps({"o": ordering, "v": values, "r": reverse}, salt=SALT, compress=True)
        params = request.query_params.copy()
        params[self.cursor_query_param] = token
        return request.build_absolute_uri(request.path) + "?" + urlencode(params, doseq=True)

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        ordering = self._ordering(queryset)
        size = self._page_size(request)
        decoded = self._decode(request, ordering)
        reverse = False
        if decoded is not None:
            values, reverse = decoded
            try:
                queryset = queryset.filter(self._seek(ordering, values, reverse=reverse))
            except (ValueError, TypeError, DjangoValidationError):
                raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if reverse:
            queryset = queryset.reverse()
        rows = list(queryset[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        self.next_link = self.previous_link = None
        if rows and not reverse:
            self.next_link = self._link(request, ordering, rows[-1], reverse=False) if has_more else None
            self.previous_link = self._link(request, ordering, rows[0], reverse=True) if decoded else None
        elif rows:
            self.next_link = self._link(request, ordering, rows[-1], reverse=False)
            self.previous_link = self._link(request, ordering, rows[0], reverse=True) if has_more else None
        return rows

    def get_paginated_response(self, data):
        return Response({"next": self.next_link, "previous": self.previous_link, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from a previous page's `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class SmallPagination(KeysetPagination):
    """The same keyset pagination with a larger default, for small configuration tables."""

    page_size = 100
