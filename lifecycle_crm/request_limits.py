"""Refuse a request body larger than DJANGO_MAX_REQUEST_BYTES before anything reads it (CSV uploads included).

Why a middleware: Django's DATA_UPLOAD_MAX_MEMORY_SIZE counts form fields but not files, so
a 25 MB CSV was read, spooled to disk and imported although the documented limit is 10 MiB.
Django reads a body only up to its Content-Length (a longer body is cut there, a missing
length reads nothing), so checking that header before the view runs bounds every upload
without reading a byte of it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string


def max_request_bytes() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


class RequestSizeLimitMiddleware:
    """413 for a declared body over the limit: JSON under /api/, a page with the limit and a way back elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = max_request_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django then reads no body at all
        if length > limit:
            return self._too_large(request, length, limit)
        return self.get_response(request)

    def _too_large(self, request: HttpRequest, length: int, limit: int) -> HttpResponse:
        message = (
            f"The request is {_megabytes(length)}; at most {_megabytes(limit)} is accepted. "
            "Split the CSV into smaller files (or import it with `manage.py import_contacts` / "
            "`import_touchpoints` on the server)."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        body = render_to_string("413.html", {"message": message, "back": request.path}, request=request)
        response = HttpResponse(body, status=413)
        # The client may still be sending the body: close the connection rather than read it.
        response["Connection"] = "close"
        return response
