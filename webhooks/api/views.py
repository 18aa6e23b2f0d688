"""Webhook subscriptions over REST (admins write; admins, marketers and integrations read) and their delivery log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.authentication import request_actor
from accounts.api.permissions import ADMIN
from accounts.roles import Role
from lifecycle_crm.api.pagination import KeysetPagination, SmallPagination
from lifecycle_crm.api.schema import READ_ERRORS, WRITE_ERRORS
from webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.services import (
    webhook_ping,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)

WEBHOOK_READERS = frozenset({Role.ADMIN, Role.MARKETER, Role.INTEGRATION})


@extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions", responses={200: WebhookSubscriptionSerializer(many=True), **READ_ERRORS}
    ),
    retrieve=extend_schema(
        summary="A webhook subscription", responses={200: WebhookSubscriptionSerializer, **READ_ERRORS}
    ),
    create=extend_schema(
        summary="Subscribe a URL to events (the answer carries the signing secret, once)",
        responses={201: WebhookSubscriptionCreatedSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change a subscription; `is_active: true` re-enables it and clears its failures",
        responses={200: WebhookSubscriptionSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(summary="Delete a subscription and its delivery log", responses={204: None, **WRITE_ERRORS}),
)
class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = WebhookSubscription.objects.order_by("-id")
    serializer_class = WebhookSubscriptionSerializer
    pagination_class = SmallPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"[0-9]{1,18}"
    read_roles = WEBHOOK_READERS
    write_roles = ADMIN

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        active = values.pop("is_active", True)
        subscription, secret = webhook_subscription_create(**values, created_by=request_actor(request))
        if not active:
            subscription = webhook_subscription_update(subscription=subscription, data={"is_active": False})
        data = dict(WebhookSubscriptionSerializer(subscription).data)
        data["secret"] = secret
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = webhook_subscription_update(
            subscription=serializer.instance, data=dict(serializer.validated_data)
        )

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return super().update(request, *args, **kwargs)

    def perform_destroy(self, instance):
        webhook_subscription_delete(subscription=instance)

    @extend_schema(
        summary="The delivery log of a subscription, newest first",
        responses={200: WebhookDeliverySerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=KeysetPagination)
    def deliveries(self, request: Request, pk=None) -> Response:
        subscription = self.get_object()
        page = self.paginate_queryset(WebhookDelivery.objects.filter(subscription=subscription).order_by("-id"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Send a signed test delivery (event `ping`) to the subscription",
        request=None,
        responses={202: WebhookDeliverySerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk=None) -> Response:
        delivery = webhook_ping(subscription=self.get_object())
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
