"""The outbox's route: `/healthz/ready` (included by the root URLconf by name, so lifecycle_crm imports no app)."""

from django.urls import path

from outbox.views import healthz_ready

urlpatterns = [
    path("healthz/ready", healthz_ready, name="healthz-ready"),
]
