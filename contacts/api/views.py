"""Contacts and touchpoints over REST: thin views over contacts.selectors (reads) and contacts.services (writes)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import ApiKeyUser, request_actor
from accounts.api.permissions import ADMIN, ALL_ROLES, CONTACT_WRITERS
from accounts.roles import Role, user_role
from contacts import selectors, services, touchpoint_services
from contacts.api.serializers import (
    ConsentEventSerializer,
    ContactEraseSerializer,
    ContactMoveResultSerializer,
    ContactMoveSerializer,
    ContactSerializer,
    ContactStageTimeSerializer,
    ContactUpsertResultSerializer,
    StageTransitionSerializer,
    TouchpointBulkResultSerializer,
    TouchpointCreatedSerializer,
    TouchpointInputSerializer,
    TouchpointSerializer,
)
from contacts.consent import contact_erase
from contacts.filters import ContactFilterSet
from contacts.models import Channel, Contact, Touchpoint, TouchpointKind, TouchpointSource
from lifecycle_crm.api.exceptions import batch_errors
from lifecycle_crm.api.filters import SelectorFilterBackend
from lifecycle_crm.api.pagination import KeysetPagination
from lifecycle_crm.api.schema import BAD_REQUEST, FORBIDDEN, READ_ERRORS, WRITE_ERRORS
from lifecycle_crm.filter_fields import IdFilter
from stages.models import TransitionSource
from stages.selectors import contact_stage_history
from stages.services import contact_move_stage


def api_source(request: Request) -> str:
    """Touchpoints and transitions written with an API key are `api`; by a logged-in person, `manual`."""
    return TouchpointSource.API if isinstance(request.user, ApiKeyUser) else TouchpointSource.MANUAL


def _writable_contact(request: Request, pk: Any) -> Contact:
    contact = _readable_contact(request, pk)
    if not selectors.contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("You can change only the contacts you own.")
    return contact


def _readable_contact(request: Request, pk: Any) -> Contact:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < pk < 2**63:
        raise Http404
    contact = selectors.contact_get(user=request.user, pk=pk)
    if contact is None:
        raise Http404
    return contact


@extend_schema_view(
    list=extend_schema(summary="List contacts", responses={200: ContactSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="A contact", responses={200: ContactSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Create a contact", responses={201: ContactSerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(summary="Change a contact", responses={200: ContactSerializer, **WRITE_ERRORS}),
    destroy=extend_schema(summary="Delete a contact (admins)", responses={204: None, **WRITE_ERRORS}),
)
class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Contacts with their stage and metrics. Filters as the dashboard's contact list (`ContactFilterSet`)."""

    serializer_class = ContactSerializer
    pagination_class = KeysetPagination
    filter_backends = [SelectorFilterBackend]
    filterset_class = ContactFilterSet
    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = Contact.objects.none()  # for the schema; reads go through the selector

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Contact.objects.none()
        return selectors.contact_list(user=self.request.user, filters=self.request.query_params, for_api=True)

    def get_object(self) -> Contact:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return _readable_contact(self.request, self.kwargs["pk"])
        return _writable_contact(self.request, self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.service_data()
        if user_role(request.user) == Role.SALES_REP:
            if not selectors.contact_can_create(user=request.user, data=data):
                raise PermissionDenied("A sales rep creates contacts that they own.")
            data["owner"] = request_actor(request)
        contact = services.contact_create(data=data, source=api_source(request), user=request.user)
        contact = selectors.contact_get(user=request.user, pk=contact.pk)
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        contact = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.service_data()
        if "stage" in data:
            raise DrfValidationError(
                {"stage": ["Change the stage with POST /contacts/{id}/move/ (it needs a reason)."]}
            )
        services.contact_update(contact=contact, data=data, user=request.user)  # the user or the key (ledger)
        return Response(ContactSerializer(selectors.contact_get(user=request.user, pk=contact.pk)).data)

    def update(self, request: Request, *args, **kwargs) -> Response:
        return self.partial_update(request, *args, **kwargs)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        if user_role(request.user) not in ADMIN:
            raise PermissionDenied("Only admins delete contacts.")
        contact = self.get_object()
        services.contact_delete(contact=contact, user=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Create or update a contact matched by external_id, then email",
        request=ContactSerializer,
        responses={
            200: OpenApiResponse(ContactUpsertResultSerializer, description="An existing contact was updated."),
            201: OpenApiResponse(ContactUpsertResultSerializer, description="A new contact was created."),
            **WRITE_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="upsert")
    def upsert(self, request: Request) -> Response:
        serializer = ContactSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.service_data()
        role = user_role(request.user)
        with transaction.atomic():
            if role == Role.SALES_REP:
                match = selectors.contact_match(external_id=data.get("external_id"), email=data.get("email"))
                if match is not None and not selectors.contact_can_write(user=request.user, contact=match):
                    raise PermissionDenied("This contact belongs to another rep.")
                if match is None:
                    if not selectors.contact_can_create(user=request.user, data=data):
                        raise PermissionDenied("A sales rep creates contacts that they own.")
                    data["owner"] = request_actor(request)
            contact, created = services.contact_upsert(data=data, source=api_source(request), user=request.user)
        body = dict(ContactSerializer(selectors.contact_get(user=request.user, pk=contact.pk)).data)
        body["created"] = created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        methods=["GET"],
        summary="A contact's touchpoints, newest first",
        responses={200: TouchpointSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        summary="Log a touchpoint on this contact",
        request=TouchpointInputSerializer,
        responses={201: TouchpointCreatedSerializer, 200: TouchpointCreatedSerializer, **WRITE_ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["get", "post"], url_path="touchpoints", filterset_class=None, filter_backends=[])
    def touchpoints(self, request: Request, pk=None) -> Response:
        if request.method == "POST":
            return self._log_touchpoint(request, pk)
        contact = _readable_contact(request, pk)
        queryset = selectors.contact_touchpoint_list(user=request.user, contact=contact)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(TouchpointSerializer(page, many=True).data)

    def _log_touchpoint(self, request: Request, pk: Any) -> Response:
        contact = _writable_contact(request, pk)
        if not isinstance(request.data, dict):
            raise DrfValidationError({"non_field_errors": ["Send a touchpoint object."]})
        row = {k: v for k, v in request.data.items() if k not in ("contact_external_id", "contact_email")}
        row["contact"] = contact.pk
        result = touchpoint_services.touchpoint_create(data=row, source=api_source(request), logged_by=request.user)
        data = dict(TouchpointSerializer(result.touchpoint).data)
        data["created"] = result.created
        return Response(data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(
        summary="A contact's stage history, oldest first",
        responses={200: StageTransitionSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="transitions", filterset_class=None, filter_backends=[])
    def transitions(self, request: Request, pk=None) -> Response:
        contact = _readable_contact(request, pk)
        queryset = selectors.contact_transition_list(user=request.user, contact=contact)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(StageTransitionSerializer(page, many=True).data)

    @extend_schema(
        summary="A contact's latest and cumulative time per stage (effective time)",
        responses={200: ContactStageTimeSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="stage-times", filterset_class=None, filter_backends=[])
    def stage_times(self, request: Request, pk=None) -> Response:
        contact = _readable_contact(request, pk)
        history = contact_stage_history(contact_id=contact.pk)
        return Response(ContactStageTimeSerializer([s.as_dict() for s in history.stages], many=True).data)

    @extend_schema(
        summary="A contact's consent ledger, oldest first (every change: who, source, time, text shown, IP)",
        responses={200: ConsentEventSerializer(many=True), **READ_ERRORS},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="consent", filterset_class=None, filter_backends=[])
    def consent(self, request: Request, pk=None) -> Response:
        contact = _readable_contact(request, pk)
        queryset = selectors.contact_consent_events(user=request.user, contact=contact)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ConsentEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Erase a contact's personal data on request (admins); aggregates stay exact, the ledger records it",
        request=ContactEraseSerializer,
        responses={200: ContactSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="erase", filterset_class=None, filter_backends=[])
    def erase(self, request: Request, pk=None) -> Response:
        if user_role(request.user) not in ADMIN:
            raise PermissionDenied("Only admins erase contacts.")
        contact = _readable_contact(request, pk)
        payload = ContactEraseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact_erase(contact=contact, user=request.user, reason=payload.validated_data["reason"])
        return Response(ContactSerializer(selectors.contact_get(user=request.user, pk=contact.pk)).data)


class ContactMoveApi(APIView):
    """Move a contact to a stage by hand, with a reason kept in its history (stages.services.contact_move_stage)."""

    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    @extend_schema(
        summary="Move a contact to a stage by hand",
        request=ContactMoveSerializer,
        responses={201: ContactMoveResultSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, pk: Any) -> Response:
        contact = _writable_contact(request, pk)
        payload = ContactMoveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        source = TransitionSource.API if isinstance(request.user, ApiKeyUser) else TransitionSource.MANUAL
        transition = contact_move_stage(
            contact=contact,
            stage=payload.validated_data["stage"],
            reason=payload.validated_data["reason"],
            user=request.user,  # the user or the API key: both recorded (provenance, issue 17)
            source=source,
        )
        contact = selectors.contact_get(user=request.user, pk=contact.pk)
        return Response(
            {"contact": ContactSerializer(contact).data, "transition": StageTransitionSerializer(transition).data},
            status=status.HTTP_201_CREATED,
        )


class TouchpointFilterSet(django_filters.FilterSet):
    """Filters of the touchpoint list."""

    contact = IdFilter(field_name="contact_id")
    kind = django_filters.MultipleChoiceFilter(choices=TouchpointKind.choices, distinct=False)
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, distinct=False)
    source = django_filters.ChoiceFilter(choices=TouchpointSource.choices)
    external_id = django_filters.CharFilter(max_length=100)
    campaign = IdFilter(field_name="campaign_id")
    occurred = django_filters.DateFromToRangeFilter(field_name="occurred_at")

    class Meta:
        model = Touchpoint
        fields: list[str] = []


# One serializer for every single-POST answer: a ModelSerializer builds its fields (deep copies,
# the model field mapping) on first use, ~1 ms of CPU per request; bound once, they are only read.
_TOUCHPOINT_OUT = TouchpointSerializer()

_TOUCHPOINT_BODY = PolymorphicProxySerializer(
    component_name="TouchpointCreateBody",
    serializers=[TouchpointInputSerializer, TouchpointInputSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@extend_schema_view(
    list=extend_schema(
        summary="List touchpoints, newest first", responses={200: TouchpointSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="A touchpoint", responses={200: TouchpointSerializer, **READ_ERRORS}),
)
class TouchpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Touchpoints: read them, or POST one object or a list of up to 1,000 (all-or-nothing, idempotent)."""

    serializer_class = TouchpointSerializer
    pagination_class = KeysetPagination
    filterset_class = TouchpointFilterSet
    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS
    queryset = Touchpoint.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Touchpoint.objects.none()
        return selectors.touchpoint_list(user=self.request.user)

    def get_object(self) -> Touchpoint:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise Http404 from None
        if not 0 < pk < 2**63:
            raise Http404
        touchpoint = self.get_queryset().filter(pk=pk).first()
        if touchpoint is None:
            raise Http404
        return touchpoint

    @extend_schema(
        summary="Store one touchpoint or a batch of up to 1,000",
        description=(
            "Send one object, or a list of up to 1,000. All items are validated first: if any is invalid "
            "the answer is 400 with per-item messages and nothing is written. Items whose "
            "`(source, external_id)` is already stored are returned with `created: false` and not "
            "written again. 201 when anything was created, 200 when everything already existed. "
            "One object answers with the touchpoint; a list with per-item results in request order."
        ),
        request=_TOUCHPOINT_BODY,
        responses={
            (201, "application/json"): PolymorphicProxySerializer(
                component_name="TouchpointCreateResult",
                serializers=[TouchpointCreatedSerializer, TouchpointBulkResultSerializer],
                resource_type_field_name=None,
            ),
            (200, "application/json"): PolymorphicProxySerializer(
                component_name="TouchpointExistingResult",
                serializers=[TouchpointCreatedSerializer, TouchpointBulkResultSerializer],
                resource_type_field_name=None,
            ),
            400: BAD_REQUEST,
            403: FORBIDDEN,
            **{k: v for k, v in WRITE_ERRORS.items() if k not in (400, 403)},
        },
    )
    def create(self, request: Request) -> Response:
        body = request.data
        many = isinstance(body, list)
        if not many and not isinstance(body, dict):
            raise DrfValidationError({"non_field_errors": ["Send a touchpoint object or a list of them."]})
        rows = body if many else [body]
        if not rows:
            raise DrfValidationError({"non_field_errors": ["The list is empty."]})
        if len(rows) > touchpoint_services.MAX_BATCH:
            raise DrfValidationError(
                {"non_field_errors": [f"At most {touchpoint_services.MAX_BATCH} touchpoints per request."]}
            )
        denied = selectors.touchpoint_rows_not_writable(user=request.user, rows=rows)
        if denied:
            return Response(
                {
                    "detail": "You can log touchpoints only on contacts you own.",
                    "errors": {"items": batch_errors(denied)},
                }
                if many
                else {"detail": "You can log touchpoints only on contacts you own."},
                status=status.HTTP_403_FORBIDDEN,
            )
        try:
            results = touchpoint_services.touchpoint_bulk_create(
                rows=rows,
                source=api_source(request),
                logged_by=request.user,  # the user or the key (provenance)
            )
        except touchpoint_services.BatchValidationError as exc:
            if many:
                raise
            raise DrfValidationError(exc.errors_by_index[0]) from None
        created = sum(1 for r in results if r.created)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        if not many:
            data = _TOUCHPOINT_OUT.to_representation(results[0].touchpoint)
            data["created"] = results[0].created
            return Response(data, status=code)
        items = [
            {
                "index": index,
                "id": r.pk,
                "contact": r.contact_id,
                "external_id": r.external_id,
                "created": r.created,
            }
            for index, r in enumerate(results)
        ]
        return Response({"created": created, "existing": len(results) - created, "results": items}, status=code)
