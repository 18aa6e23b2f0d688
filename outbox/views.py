"""`/healthz/ready`: readiness details for monitoring — database, broker and the outbox backlog."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from lifecycle_crm.health import check_broker, check_database
from outbox.selectors import outbox_backlog


@never_cache
@require_GET
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """200 when the database and broker answer and the outbox keeps up; 503 with the failing check otherwise.

    For monitoring and alerts, not for load balancers (they use `/healthz`): with the broker
    down the web tier still serves and stores every event, which this probe reports as lag.
    """
    checks: dict = {"database": check_database(), "broker": check_broker()}
    if checks["database"]["ok"]:
        backlog = outbox_backlog()
        max_lag = float(getattr(settings, "OUTBOX_READY_MAX_LAG_SECONDS", 60.0))
        checks["outbox"] = {"ok": backlog["lag_seconds"] <= max_lag, "max_lag_seconds": max_lag, **backlog}
    else:
        checks["outbox"] = {"ok": False, "error": "the database is unreachable"}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ready" if ready else "degraded", "checks": checks}, status=200 if ready else 503)
