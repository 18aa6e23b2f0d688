"""One exception handler: every error is JSON with `detail`, and validation errors name fields and items.

Shapes (documented in docs/API.md and the OpenAPI schema):
- 400 validation: `{"detail": "Invalid input.", "errors": {"<field>": ["<message>", …]}}`
- 400 bulk: `{"detail": "2 item(s) are invalid; nothing was written.",
  "errors": {"items": [{"index": 3, "errors": {"<field>": ["…"]}}]}}`
- 409 conflict (deleting a stage still in use, a concurrent duplicate, re-consenting an unsubscribed
  contact without consent_source and consent_reason): `{"detail": "…"}`
- anything else DRF raises: `{"detail": "…"}` with its status.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from lifecycle_crm.errors import BatchValidationError, ConsentConflict

logger = logging.getLogger(__name__)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with existing data."
    default_code = "conflict"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def batch_errors(errors_by_index: dict[int, dict[str, list[str]]]) -> list[dict]:
    return [{"index": index, "errors": errors_by_index[index]} for index in sorted(errors_by_index)]


def django_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def api_exception_handler(exc, context):
    """Map domain errors to 4xx JSON; leave genuine bugs as 500 (and logged) so they are seen and fixed."""
    if isinstance(exc, BatchValidationError):
        return Response(
            {"detail": exc.messages[0], "errors": {"items": batch_errors(exc.errors_by_index)}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": "Invalid input.", "errors": django_errors(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError | RestrictedError):
        names = (
            sorted({obj._meta.verbose_name_plural for obj in list(exc.protected_objects)[:50]})
            if hasattr(exc, "protected_objects")
            else []
        )
        detail = "Cannot delete: still in use" + (f" by {', '.join(map(str, names))}." if names else ".")
        exc = Conflict(detail)
    elif isinstance(exc, IntegrityError):
        logger.info("Integrity error answered as 409: %s", exc)
        exc = Conflict("This conflicts with existing data (a duplicate or a broken reference).")
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, ConsentConflict):
        exc = Conflict(str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"detail": "Invalid input.", "errors": _as_field_errors(response.data)}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def _as_field_errors(data):
    if isinstance(data, dict):
        return data
    if isinstance(data, list):
        return {"non_field_errors": data}
    return {"non_field_errors": [str(data)]}
