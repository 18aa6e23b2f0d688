"""Filter parameters that parse what the OpenAPI schema says they are, and say it in the schema.

Why: a generated client sends an array parameter as repeated keys (`?owner_id=3&owner_id=4`),
the dashboard and hand-written URLs send comma-separated values (`?owner_id=3,4`); both
must mean both owners. Booleans must be booleans (`at_risk=maybe` is a 400, not ignored),
ids whole numbers. Each filter class carries its schema (`extend_schema_field`), so the
schema and the parser cannot drift apart. Imports no app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.drainage import set_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

ID_MAX = 2**63 - 1
_DIGITS = re.compile(r"\d{1,19}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _items(value: Any) -> list[str]:
    """Every value of a repeated and/or comma-separated parameter, stripped (empty ones kept, to be refused)."""
    if value in (None, "", [], ()):
        return []
    values = value if isinstance(value, list | tuple) else [value]
    return [part.strip() for item in values for part in str(item).split(",")]


class MultipleIdField(forms.Field):
    """Ids as repeated parameters and/or comma-separated: `?id=3&id=4`, `?id=3,4`; each a whole number ≥ 1."""

    widget = forms.SelectMultiple  # reads every value of a repeated key

    def to_python(self, value: Any) -> list[int]:
        ids = []
        for item in _items(value):
            if not _DIGITS.fullmatch(item) or not 1 <= int(item) <= ID_MAX:
                raise ValidationError(f"{item!r} is not an id (a whole number from 1).", code="invalid")
            ids.append(int(item))
        return ids


class IdField(forms.Field):
    """One id: a whole number from 1 (not `4018.0`, which Django's IntegerField would take)."""

    def to_python(self, value: Any) -> int | None:
        if value in (None, ""):
            return None
        text = str(value).strip()
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= ID_MAX:
            raise ValidationError(f"{value!r} is not an id (a whole number from 1).", code="invalid")
        return int(text)


class MultipleTextField(forms.Field):
    """Text values as repeated parameters and/or comma-separated; empty values are refused."""

    widget = forms.SelectMultiple

    def __init__(self, *, choices: Callable[[], Sequence[str]] | None = None, max_length: int = 200, **kwargs: Any):
        self.allowed, self.max_length = choices, max_length
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        items = _items(value)
        allowed = set(self.allowed()) if self.allowed else None
        for item in items:
            if not item:
                raise ValidationError("Empty value.", code="invalid")
            if len(item) > self.max_length or "\x00" in item:
                raise ValidationError(f"{item[:40]!r} is not a valid value.", code="invalid")
            if allowed is not None and item not in allowed:
                raise ValidationError(f"{item!r} is not one of: {', '.join(sorted(allowed))}.", code="invalid_choice")
        return items


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, on/off, any case); anything else is an error, not 'no filter'."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError(f"{value!r} is not a boolean (true or false).", code="invalid")


@extend_schema_field({"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": ID_MAX}})
class MultipleIdFilter(django_filters.Filter):
    """Ids, `<field>__in` by default; repeated and/or comma-separated."""

    field_class = MultipleIdField

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}})
class MultipleTextFilter(django_filters.Filter):
    """Text values (`choices`: a callable naming the allowed ones, documented as an enum)."""

    field_class = MultipleTextField

    def __init__(self, *args: Any, choices: Callable[[], Sequence[str]] | None = None, **kwargs: Any):
        if choices is not None:
            kwargs["choices"] = choices
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    """One id, a whole number ≥ 1."""

    field_class = IdField


# Money filters parse as a decimal with at most 2 places; said so, a client sends it as such.
MONEY_SCHEMA = {"type": "string", "format": "decimal", "pattern": r"^-?\d{1,14}(?:\.\d{1,2})?$"}


def money_schema(filter_: django_filters.Filter) -> django_filters.Filter:
    """Document a decimal (money) filter as a decimal string with its digits."""
    set_override(filter_, "field", MONEY_SCHEMA)
    return filter_


def enum_schema(filter_: django_filters.Filter, values: Sequence[str]) -> django_filters.Filter:
    """Document a multi-value text filter's allowed values as an array of enum (no empty value)."""
    set_override(filter_, "field", {"type": "array", "items": {"type": "string", "enum": sorted(values)}})
    return filter_
