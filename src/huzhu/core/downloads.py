"""A file sent as a download: streamed, with its type and name, never shown in the browser."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header


def attachment(
    content: Iterator[bytes], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
