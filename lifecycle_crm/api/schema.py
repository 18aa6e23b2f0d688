"""Shared OpenAPI pieces: the error bodies every endpoint may answer with."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})

ValidationErrorSerializer = inline_serializer(
    "ValidationError",
    {
        "detail": serializers.CharField(),
        "errors": serializers.DictField(
            required=False,
            child=serializers.JSONField(),
            help_text="Field name → list of messages; for a bulk request `items`: [{index, errors}].",
        ),
    },
)

BAD_REQUEST = OpenApiResponse(ValidationErrorSerializer, description="Invalid input; nothing was written.")
UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="The role does not allow this.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such object.")
CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflicts with existing data.")
TOO_LARGE = OpenApiResponse(ErrorSerializer, description="The request body is too large.")
THROTTLED = OpenApiResponse(ErrorSerializer, description="Too many requests; see the Retry-After header.")

READ_ERRORS = {400: BAD_REQUEST, 401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND, 429: THROTTLED}
WRITE_ERRORS = {**READ_ERRORS, 409: CONFLICT, 413: TOO_LARGE}


# --- JSON-valued fields, typed (issue 19: a generated client must know their shape) ----------------

JSON_SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}], "nullable": True}
# A custom attribute's value: a scalar, or a list / object of anything JSON (lifecycle_crm.validation caps them).
ATTRIBUTE_VALUE = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {}},
        {"type": "object", "additionalProperties": {}},
    ],
    "nullable": True,
}
ATTRIBUTES_SCHEMA = {
    "type": "object",
    "maxProperties": 200,
    "additionalProperties": ATTRIBUTE_VALUE,
    "description": "Custom attributes: names (at most 100 characters, no NUL) to JSON values; at most 16 KB in all.",
}
