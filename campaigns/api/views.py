"""Campaigns and segments: everyone reads, admins and marketers write; a segment lists its contacts live."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.api.serializers import CampaignSerializer, SegmentSerializer
from campaigns.models import Campaign, Segment
from contacts.api.serializers import ContactSerializer
from contacts.filters import ORDERING_CHOICES
from contacts.selectors import contact_list
from lifecycle_crm.api.authentication import request_actor
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.permissions import ALL_ROLES, CONFIG_WRITERS
from lifecycle_crm.api.schema import READ_ERRORS
from stages.api.views import _crud_schema, _CrudViewSet


@_crud_schema(CampaignSerializer, "campaign")
class CampaignViewSet(_CrudViewSet):
    queryset = Campaign.objects.select_related("objective").order_by("-id")
    serializer_class = CampaignSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = CONFIG_WRITERS

    def perform_create(self, serializer):
        serializer.save(created_by=request_actor(self.request))


@_crud_schema(SegmentSerializer, "segment")
class SegmentViewSet(_CrudViewSet):
    queryset = Segment.objects.order_by("-id")
    serializer_class = SegmentSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = CONFIG_WRITERS

    def perform_create(self, serializer):
        serializer.save(created_by=request_actor(self.request))

    @extend_schema(
        summary="The contacts in a segment now (its saved filters, evaluated live)",
        responses={200: ContactSerializer(many=True), **READ_ERRORS},
        filters=False,
        parameters=[
            OpenApiParameter(
                "ordering", str, enum=[name for name, _ in ORDERING_CHOICES], description="Sort key; `-` descending."
            )
        ],
    )
    @action(detail=True, methods=["get"], url_path="contacts", pagination_class=KeysetPagination, filter_backends=[])
    def contacts(self, request: Request, pk=None) -> Response:
        segment = self.get_object()
        filters = {"segment": segment.pk}
        if request.query_params.get("ordering"):
            filters["ordering"] = request.query_params["ordering"]
        page = self.paginate_queryset(contact_list(user=request.user, filters=filters))
        return self.get_paginated_response(ContactSerializer(page, many=True).data)
