"""The shared input rules of lifecycle_crm.validation (issue 19, findings 1 and 6)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from lifecycle_crm import validation

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),  # year 0 in UTC
        dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-14))),  # year 10000 in UTC
        dt.datetime(1899, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(1900, 1, 1, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=6))),  # 1899 in UTC
        NOW + dt.timedelta(days=1, seconds=1),
    ],
)
def test_moments_out_of_range_after_conversion_to_utc_are_refused(when):
    assert validation.moment_problem(when, now=NOW)


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(1900, 1, 1, tzinfo=dt.UTC),
        dt.datetime(1900, 1, 1, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))),
        dt.datetime(2026, 6, 1, 12, 0),  # naive: taken as UTC
        NOW + dt.timedelta(hours=23),
    ],
)
def test_moments_in_range_pass(when):
    assert validation.moment_problem(when, now=NOW) is None


def test_validators_raise_validation_errors():
    with pytest.raises(ValidationError):
        validation.validate_moment(dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))))
    with pytest.raises(ValidationError):
        validation.validate_text("a\x00b")
    with pytest.raises(ValidationError):
        validation.validate_text("\ud800")
    with pytest.raises(ValidationError):
        validation.validate_attributes({"k": float("nan")})
    with pytest.raises(ValidationError):
        validation.validate_attributes(["not", "an", "object"])
    validation.validate_text("Zoë 東京 🎉")
    validation.validate_attributes({"plan": "gold", "seats": 3, "tags": ["a", {"b": None}]})


def test_upload_text_problem_names_the_line_of_the_nul():
    assert "line 2" in validation.upload_text_problem("email\na\x00@x.com\n")
    assert validation.upload_text_problem("email\na@x.com\n") is None
