"""Error types every layer may raise and the API's one exception handler maps (lifecycle_crm.api.exceptions).

They live in the framework so the handler knows them without importing an app.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ConsentConflict(Exception):
    """A change of consent that needs an explicit decision (re-consenting an unsubscribed contact): HTTP 409."""


class BatchValidationError(ValidationError):
    """A batch had invalid items; `errors_by_index` maps item index → {field: [messages]}. Nothing was written."""

    def __init__(self, errors_by_index: dict[int, dict[str, list[str]]]):
        self.errors_by_index = errors_by_index
        super().__init__(f"{len(errors_by_index)} item(s) are invalid; nothing was written.")
