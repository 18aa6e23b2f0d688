"""Base viewsets shared by the apps' APIs (the framework layer: no app imported here)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from lifecycle_crm.api.schema import READ_ERRORS, WRITE_ERRORS


def crud_schema(serializer: Any, noun: str) -> Any:
    """The OpenAPI descriptions of a CrudViewSet's five actions for `noun`, with the house's error shapes."""

    return extend_schema_view(
        list=extend_schema(summary=f"List {noun}s", responses={200: serializer(many=True), **READ_ERRORS}),
        retrieve=extend_schema(summary=f"A {noun}", responses={200: serializer, **READ_ERRORS}),
        create=extend_schema(summary=f"Create a {noun}", responses={201: serializer, **WRITE_ERRORS}),
        partial_update=extend_schema(summary=f"Change a {noun}", responses={200: serializer, **WRITE_ERRORS}),
        destroy=extend_schema(summary=f"Delete a {noun}", responses={204: None, **WRITE_ERRORS}),
    )


class CrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """PATCH only for changes: a PUT that forgets a field should not reset it."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"[0-9]{1,18}"
