"""API routes: `/api/v1/...` resources, the OpenAPI schema and its offline interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

v1 = [
    path("", include("contacts.api.urls")),
    path("", include("stages.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("webhooks.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
