"""Routes of the contacts API (mounted under /api/v1/ by lifecycle_crm.api_urls)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from contacts.api.merge import ContactMergeApi
from contacts.api.views import ContactMoveApi, ContactViewSet, TouchpointViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("touchpoints", TouchpointViewSet, basename="touchpoint")

urlpatterns = [
    path("contacts/<int:pk>/move/", ContactMoveApi.as_view(), name="contact-move"),
    path("contacts/<int:pk>/merge/", ContactMergeApi.as_view(), name="contact-merge"),
    *router.urls,
]
