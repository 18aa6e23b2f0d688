"""`/healthz`: is the database reachable, and is the Celery broker reachable?

Answers JSON with each check, 200 when all are healthy and 503 otherwise, so a load
balancer or docker-compose health check can act on it without authenticating.
"""

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from lifecycle_crm.celery import app


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message says which
        return {"ok": False, "error": str(exc)[:200]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_broker() -> dict:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "eager (no broker configured; tasks run in-process)"}

    started = time.perf_counter()
    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            # One quick retry rides out a blip; kombu's default first retry waits 2 s, too long for a probe.
            conn.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0, timeout=2)
    except Exception as exc:  # kombu raises many transport-specific errors
        return {"ok": False, "error": str(exc)[:200]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
