"""One format for the figures the product shows: money, counts, percentages, days and dates.

Every template filter, chart table and report page formats through these functions, so one
amount never reads "1441.52" in one place and "1,441.52 USD" in another. Separators and date
patterns come from Django's localisation (the active locale's formats); the currency is the
CRM_CURRENCY setting. CSV files and the API keep raw machine values and do not come here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import formats, timezone

MISSING = "—"  # a figure that cannot be computed (yet): never shown as 0


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def format_number(value: Any, decimals: int = 0) -> str:
    """A number with the locale's grouping and decimal separator, `decimals` places."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return formats.number_format(round(number, decimals), decimals, use_l10n=True, force_grouping=True)


def currency() -> str:
    """The currency every amount is in (setting CRM_CURRENCY, an ISO 4217 code)."""
    return str(getattr(settings, "CRM_CURRENCY", "USD"))


def format_money(value: Any) -> str:
    """An amount with two decimals, the locale's separators and the currency code: "1,441.52 USD"."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{format_number(number, 2)} {currency()}"


def format_percent(value: Any, decimals: int = 1) -> str:
    """A share (0.038) as a percentage with one decimal: "3.8 %" (the locale's decimal separator)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{format_number(number * 100, decimals)} %"


def format_date(value: dt.date | dt.datetime | None) -> str:
    """A day in the locale's DATE_FORMAT; a datetime is shown as its local day."""
    if value is None:
        return MISSING
    if isinstance(value, dt.datetime):
        value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return formats.date_format(value, "DATE_FORMAT")


def format_date_short(value: dt.date) -> str:
    """A day as the locale writes it in a form field (SHORT_DATE_FORMAT), which its DATE_INPUT_FORMATS read back."""
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def format_value(unit: str, value: Any) -> str:
    """`value` in the format of its unit (the metric catalogue's units)."""
    if unit == "money":
        return format_money(value)
    if unit == "percent":
        return format_percent(value)
    if unit == "count":
        return format_number(value, 0)
    if unit == "days":
        return format_number(value, 1)
    if unit == "date":
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                return value
        return format_date(value)
    if value is None:
        return MISSING
    return str(value)
