"""API routes: `/api/v1/...` resources, the OpenAPI schema and its offline interactive docs."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


@csrf_exempt  # it changes nothing; a POST to an unknown path is a 404, not a CSRF page
def api_not_found(request, *args, **kwargs):
    """Unknown API paths (including ids that are not numbers) answer JSON, like every other API error."""
    return JsonResponse({"detail": "Not found."}, status=404)


v1 = [
    path("", include("contacts.api.urls")),
    path("", include("stages.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("loyalty.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("webhooks.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^[\s\S]*$", api_not_found),  # [\s\S]: a path with a newline is an API path too,
]
