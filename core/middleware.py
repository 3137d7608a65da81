"""Request size limits decided by path, before anything reads the body."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)
INBOUND_PATH_PREFIX = "/anymail/"


class RequestSizeLimits:
    """Inbound mail posts may carry a 25 MB message; nothing else needs more than an upload
    form does. Oversized inbound posts get 406, which tells Mailgun not to retry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length.", status=400, content_type="text/plain")
        if request.path.startswith(INBOUND_PATH_PREFIX):
            limit = settings.INBOUND_MAX_MESSAGE_BYTES + settings.INBOUND_POST_OVERHEAD_BYTES
            if length > limit:
                logger.warning("Inbound post refused: %d bytes is over %d", length, limit)
                return HttpResponse(
                    f"Message too large: Threadline accepts messages up to "
                    f"{settings.INBOUND_MAX_MESSAGE_BYTES} bytes.",
                    status=406,
                    content_type="text/plain",
                )
            return self.get_response(request)
        is_upload = request.content_type == "multipart/form-data"
        limit = settings.UPLOAD_POST_MAX_BYTES if is_upload else settings.FORM_POST_MAX_BYTES
        if length > limit:
            return HttpResponse("Request too large.", status=413, content_type="text/plain")
        return self.get_response(request)
