"""Root URL configuration: health, auth, admin, API (v1 + schema/docs) and the dashboards."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from lifecycle_crm.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("outbox.urls")),  # healthz/ready
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("lifecycle_crm.api_urls")),
    path("", include("lifecycle_crm.web_urls")),
]
