"""Campaigns and segments: everyone reads, admins and marketers write; a segment lists its contacts live."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_actor
from accounts.api.permissions import ALL_ROLES, CONFIG_WRITERS
from campaigns.api.serializers import CampaignSerializer, SegmentSerializer
from campaigns.selectors import campaign_list, segment_contacts, segment_list
from campaigns.services import campaign_delete, campaign_save, segment_delete, segment_save
from contacts.api.serializers import ContactSerializer
from contacts.filters import ORDERING_CHOICES
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.schema import READ_ERRORS
from lifecycle_crm.api.viewsets import CrudViewSet, crud_schema


@crud_schema(CampaignSerializer, "campaign")
class CampaignViewSet(CrudViewSet):
    queryset = campaign_list()
    serializer_class = CampaignSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = CONFIG_WRITERS

    def perform_create(self, serializer):
        serializer.instance = campaign_save(data=serializer.validated_data, user=request_actor(self.request))

    def perform_update(self, serializer):
        serializer.instance = campaign_save(campaign=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        campaign_delete(campaign=instance)


@crud_schema(SegmentSerializer, "segment")
class SegmentViewSet(CrudViewSet):
    queryset = segment_list()
    serializer_class = SegmentSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = CONFIG_WRITERS

    def perform_create(self, serializer):
        serializer.instance = segment_save(data=serializer.validated_data, user=request_actor(self.request))

    def perform_update(self, serializer):
        serializer.instance = segment_save(segment=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        segment_delete(segment=instance)

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
        contacts = segment_contacts(
            segment=self.get_object(), user=request.user, ordering=request.query_params.get("ordering")
        )
        page = self.paginate_queryset(contacts)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)
