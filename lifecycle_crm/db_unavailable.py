"""Answer 503 with a retry hint, not a 500 traceback, while the database is unreachable or restarting.

A PostgreSQL restart (failover, upgrade) breaks the open connections: the request in flight
fails with OperationalError and its transaction rolls back, so nothing was written. Telling
the client so (503 + Retry-After) lets an integration retry the same batch; idempotency by
`external_id` makes the retry exact. `conn_health_checks` (settings) replaces the broken
connection on the next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is unavailable right now; nothing was written. Retry in a few seconds."


class DatabaseUnavailableMiddleware:
    """Turns a view's OperationalError/InterfaceError (connection lost, server restarting) into 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
