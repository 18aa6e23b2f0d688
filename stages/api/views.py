"""Stages (admins write), stage rules (admins and marketers write) and the transition history (read-only)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from accounts.api.permissions import ADMIN, ALL_ROLES, CONFIG_WRITERS
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.schema import READ_ERRORS
from lifecycle_crm.api.viewsets import CrudViewSet, crud_schema
from stages.api.serializers import StageRuleSerializer, StageSerializer, StageTransitionSerializer
from stages.models import Stage, StageRule, StageTransition, TransitionSource
from stages.services import stage_rule_save


@crud_schema(StageSerializer, "stage")
class StageViewSet(CrudViewSet):
    """Lifecycle stages in path order. Deleting a stage that contacts or history still use answers 409."""

    queryset = Stage.objects.order_by("position", "id")
    serializer_class = StageSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = ADMIN


@crud_schema(StageRuleSerializer, "stage rule")
class StageRuleViewSet(CrudViewSet):
    """Rules that place contacts in stages; saved through stages.services.stage_rule_save."""

    queryset = StageRule.objects.select_related("stage").prefetch_related("from_stages").order_by("id")
    serializer_class = StageRuleSerializer
    pagination_class = SmallPagination
    read_roles = ALL_ROLES
    write_roles = CONFIG_WRITERS

    def perform_create(self, serializer):
        serializer.instance = stage_rule_save(data=dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = stage_rule_save(rule=serializer.instance, data=dict(serializer.validated_data))


class TransitionFilterSet(django_filters.FilterSet):
    contact = django_filters.NumberFilter(field_name="contact_id", min_value=1, max_value=2**63 - 1)
    to_stage = django_filters.CharFilter(field_name="to_stage__slug", max_length=50)
    from_stage = django_filters.CharFilter(field_name="from_stage__slug", max_length=50)
    source = django_filters.ChoiceFilter(choices=TransitionSource.choices)
    effective = django_filters.DateFromToRangeFilter(field_name="effective_at")

    class Meta:
        model = StageTransition
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="List stage transitions, newest first",
        responses={200: StageTransitionSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(summary="A stage transition", responses={200: StageTransitionSerializer, **READ_ERRORS}),
)
class TransitionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The append-only history of stage moves (for a feed: poll with the `next` cursor)."""

    queryset = StageTransition.objects.select_related("from_stage", "to_stage", "rule").order_by("-id")
    serializer_class = StageTransitionSerializer
    pagination_class = KeysetPagination
    filterset_class = TransitionFilterSet
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = ALL_ROLES
