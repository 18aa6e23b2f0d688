"""Stages (admins write), stage rules (admins and marketers write) and the transition history (read-only)."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import ADMIN, ALL_ROLES, CONFIG_WRITERS
from contacts.models import Contact
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.schema import READ_ERRORS, WRITE_ERRORS
from lifecycle_crm.api.viewsets import CrudViewSet, crud_schema
from lifecycle_crm.filter_fields import IdFilter
from stages.api.serializers import (
    RuleApplicationSerializer,
    RuleSetDryRunSerializer,
    StageRuleSerializer,
    StageSerializer,
    StageTransitionSerializer,
)
from stages.applying import lifecycle_dry_run, rule_specs_from_data
from stages.models import RuleApplication, Stage, StageRule, StageTransition, TransitionSource
from stages.selectors import transitions_with_exit
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

    # A save applies the change to every contact in the background (GET /rule-applications/{id}/ for progress).
    def perform_create(self, serializer):
        serializer.instance = stage_rule_save(data=dict(serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = stage_rule_save(
            rule=serializer.instance, data=dict(serializer.validated_data), user=self.request.user
        )


class TransitionFilterSet(django_filters.FilterSet):
    contact = IdFilter(field_name="contact_id")
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

    queryset = transitions_with_exit(StageTransition.objects.select_related("from_stage", "to_stage", "rule")).order_by(
        "-id"
    )
    serializer_class = StageTransitionSerializer
    pagination_class = KeysetPagination
    filterset_class = TransitionFilterSet
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = ALL_ROLES


class StageRuleDryRunApi(APIView):
    """Who a rule set would move, as of any day: the saved rules or posted ones. Writes nothing (issue 17)."""

    read_roles = CONFIG_WRITERS
    write_roles = CONFIG_WRITERS

    @extend_schema(
        summary="Dry run of a rule set: counts and a paged list of who would move (nothing is written)",
        request=RuleSetDryRunSerializer,
        responses={200: OpenApiTypes.OBJECT, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        payload = RuleSetDryRunSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        rules = rule_specs_from_data(data["rules"]) if "rules" in data else None
        result = lifecycle_dry_run(rules=rules, replace=data["replace"], as_of=data.get("as_of"))
        movers = sorted(result.movers)
        page, size = data["page"], data["page_size"]
        chunk = movers[(page - 1) * size : page * size]
        emails = dict(Contact.objects.filter(pk__in=[m[0] for m in chunk]).values_list("pk", "email"))
        body = result.as_dict()
        body.update(
            as_of=data.get("as_of"),
            movers={
                "count": len(movers),
                "page": page,
                "pages": max(1, -(-len(movers) // size)),
                "results": [
                    {"contact_id": c, "email": emails.get(c, ""), "from": f, "to": t, "rule": r} for c, f, t, r in chunk
                ],
            },
        )
        return Response(body)


@extend_schema_view(
    list=extend_schema(
        summary="Rule changes being applied in the background, newest first",
        responses={200: RuleApplicationSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A rule application: progress and who moved", responses={200: RuleApplicationSerializer, **READ_ERRORS}
    ),
)
class RuleApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Saved rule changes being applied in the background: progress and who moved."""

    queryset = RuleApplication.objects.order_by("-id")
    serializer_class = RuleApplicationSerializer
    pagination_class = SmallPagination
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = ALL_ROLES
