"""Loyalty API: programmes and rewards (read), a member's standing and ledger, redemptions, adjustments, referrals.

Thin views: input serializers check shapes, services (loyalty.services) decide and write,
their ValidationErrors become 400s with field messages through the project's handler.
Contacts are scoped like the contact API (a rep sees and changes only its own contacts).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import request_actor
from accounts.api.permissions import ALL_ROLES, CONTACT_WRITERS
from contacts import selectors as contact_selectors
from contacts.models import Contact
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.schema import READ_ERRORS, WRITE_ERRORS
from loyalty import selectors, services
from loyalty.api.serializers import (
    AdjustInputSerializer,
    MemberSerializer,
    PointsEntrySerializer,
    ProgrammeSerializer,
    RedeemInputSerializer,
    RedemptionSerializer,
    ReferralInviteInputSerializer,
    ReferralSerializer,
    ReferralSignUpInputSerializer,
    RewardSerializer,
    TierChangeSerializer,
)
from loyalty.models import (
    PointsEntry,
    Programme,
    Redemption,
    RedemptionChannel,
    Referral,
    ReferralStatus,
    Reward,
    TierChange,
)


def _contact(request: Request, pk: Any, *, write: bool = False) -> Contact:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    contact = contact_selectors.contact_get(user=request.user, pk=pk) if 0 < pk < 2**63 else None
    if contact is None:
        raise Http404
    if write and not contact_selectors.contact_can_write(user=request.user, contact=contact):
        raise PermissionDenied("You can change only the contacts you own.")
    return contact


@extend_schema_view(
    list=extend_schema(
        summary="List loyalty programmes", responses={200: ProgrammeSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(summary="A loyalty programme", responses={200: ProgrammeSerializer, **READ_ERRORS}),
)
class ProgrammeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Loyalty programmes with their tiers (configured in Django admin)."""

    queryset = Programme.objects.prefetch_related("tiers").order_by("-is_default", "name", "id")
    serializer_class = ProgrammeSerializer
    pagination_class = SmallPagination
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = ALL_ROLES


class RewardFilterSet(django_filters.FilterSet):
    programme = django_filters.NumberFilter(field_name="programme_id", min_value=1, max_value=2**63 - 1)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Reward
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List rewards", responses={200: RewardSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(summary="A reward", responses={200: RewardSerializer, **READ_ERRORS}),
)
class RewardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rewards with their points price and stock (null stock: unlimited)."""

    queryset = Reward.objects.order_by("programme_id", "points_price", "id")
    serializer_class = RewardSerializer
    pagination_class = SmallPagination
    filterset_class = RewardFilterSet
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = ALL_ROLES


class MemberApi(APIView):
    """A contact's balance, tier, progress to the next tier, referral code and redemption link."""

    read_roles = ALL_ROLES

    @extend_schema(summary="A contact's loyalty standing", responses={200: MemberSerializer, **READ_ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        from django.urls import reverse

        contact = _contact(request, pk)
        summary = selectors.contact_loyalty(contact_id=contact.pk, ledger_limit=0)
        return Response(
            MemberSerializer(
                {
                    "contact": contact.pk,
                    "programme": summary.programme.pk if summary.programme else None,
                    "balance": summary.balance,
                    "tier": summary.tier.slug if summary.tier else None,
                    "next_tier": summary.next_tier.slug if summary.next_tier else None,
                    "window_value": summary.window_value,
                    "progress_percent": summary.progress_percent,
                    "referral_code": summary.referral_code,
                    "member_link": request.build_absolute_uri(
                        reverse("web:loyalty_member", args=[summary.member_token])
                    ),
                }
            ).data
        )


class MemberEntriesApi(APIView):
    """A contact's points ledger, newest first (cursor pagination)."""

    read_roles = ALL_ROLES

    @extend_schema(
        summary="A contact's points ledger", responses={200: PointsEntrySerializer(many=True), **READ_ERRORS}
    )
    def get(self, request: Request, pk: Any) -> Response:
        contact = _contact(request, pk)
        queryset = PointsEntry.objects.filter(member__contact=contact).order_by("-id")
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(PointsEntrySerializer(page, many=True).data)


class MemberTierChangesApi(APIView):
    """A contact's tier history."""

    read_roles = ALL_ROLES

    @extend_schema(summary="A contact's tier history", responses={200: TierChangeSerializer(many=True), **READ_ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        contact = _contact(request, pk)
        rows = TierChange.objects.filter(member__contact=contact).select_related("from_tier", "to_tier")
        return Response(TierChangeSerializer(rows.order_by("effective_at", "id")[:500], many=True).data)


class RedemptionFilterSet(django_filters.FilterSet):
    contact = django_filters.NumberFilter(field_name="member__contact_id", min_value=1, max_value=2**63 - 1)
    reward = django_filters.NumberFilter(field_name="reward_id", min_value=1, max_value=2**63 - 1)

    class Meta:
        model = Redemption
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List redemptions", responses={200: RedemptionSerializer(many=True), **READ_ERRORS}),
    create=extend_schema(
        summary="Redeem a reward for a contact's points",
        request=RedeemInputSerializer,
        responses={201: RedemptionSerializer, **WRITE_ERRORS},
    ),
)
class RedemptionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Redemptions; POST redeems (400 with a message when the balance or the stock is short)."""

    queryset = Redemption.objects.select_related("member", "reward").order_by("-id")
    serializer_class = RedemptionSerializer
    pagination_class = KeysetPagination
    filterset_class = RedemptionFilterSet
    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = RedeemInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact = _contact(request, payload.validated_data["contact"], write=True)
        reward = Reward.objects.select_related("programme").filter(pk=payload.validated_data["reward"]).first()
        if reward is None:
            from django.core.exceptions import ValidationError

            raise ValidationError({"reward": "Unknown reward."})
        redemption = services.reward_redeem(
            contact=contact, reward=reward, channel=RedemptionChannel.API, user=request_actor(request)
        )
        return Response(RedemptionSerializer(redemption).data, status=status.HTTP_201_CREATED)


class AdjustmentApi(APIView):
    """Add or remove points by hand with a reason (never below a zero balance)."""

    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    @extend_schema(
        summary="Adjust a contact's points",
        request=AdjustInputSerializer,
        responses={201: PointsEntrySerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        payload = AdjustInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact = _contact(request, payload.validated_data["contact"], write=True)
        entry = services.points_adjust(
            contact=contact,
            points=payload.validated_data["points"],
            note=payload.validated_data["note"],
            user=request_actor(request),
        )
        return Response(PointsEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class ReferralFilterSet(django_filters.FilterSet):
    referrer = django_filters.NumberFilter(field_name="referrer_id", min_value=1, max_value=2**63 - 1)
    referred = django_filters.NumberFilter(field_name="referred_id", min_value=1, max_value=2**63 - 1)
    status = django_filters.ChoiceFilter(choices=ReferralStatus.choices)

    class Meta:
        model = Referral
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="List referrals", responses={200: ReferralSerializer(many=True), **READ_ERRORS}),
    create=extend_schema(
        summary="Record an invitation (status invited)",
        request=ReferralInviteInputSerializer,
        responses={201: ReferralSerializer, **WRITE_ERRORS},
    ),
)
class ReferralViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Referrals: Invited → Signed up → Purchased. POST records an invitation by email."""

    queryset = Referral.objects.order_by("-id")
    serializer_class = ReferralSerializer
    pagination_class = KeysetPagination
    filterset_class = ReferralFilterSet
    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ReferralInviteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        referrer = _contact(request, payload.validated_data["referrer"], write=True)
        referral = services.referral_invite(referrer=referrer, email=payload.validated_data["email"])
        return Response(ReferralSerializer(referral).data, status=status.HTTP_201_CREATED)


class ReferralSignUpApi(APIView):
    """Link a new contact to the referrer whose code it signed up with (self-referral, repeats and loops refused)."""

    read_roles = ALL_ROLES
    write_roles = CONTACT_WRITERS

    @extend_schema(
        summary="Sign a contact up with a referral code",
        request=ReferralSignUpInputSerializer,
        responses={201: ReferralSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        payload = ReferralSignUpInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact = _contact(request, payload.validated_data["contact"], write=True)
        referral = services.referral_sign_up(contact=contact, code=payload.validated_data["referral_code"])
        return Response(ReferralSerializer(referral).data, status=status.HTTP_201_CREATED)
