"""A JSON parser with a body-size cap (DRF reads the stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from lifecycle_crm.api.exceptions import PayloadTooLarge


def max_body_bytes() -> int:
    return int(getattr(settings, "API_MAX_REQUEST_BYTES", 2 * 1024 * 1024))


class _CappedStream:
    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(self.limit + 1 - self.read_so_far if size < 0 else size)
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise PayloadTooLarge(f"The request body is larger than {self.limit} bytes.")
        return chunk


class CappedJSONParser(JSONParser):
    """JSON bodies up to `API_MAX_REQUEST_BYTES` (2 MiB by default: 1,000 touchpoints fit easily); larger is 413."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            if length and int(length) > limit:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        except ValueError:
            raise ParseError("Invalid Content-Length.") from None
        if stream is None:
            return None
        try:
            return super().parse(_CappedStream(stream, limit), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
