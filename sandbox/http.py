"""Reading a provider request's body as the provider would: whole, whatever its size.
Django refuses to hand over `request.body` above DATA_UPLOAD_MAX_MEMORY_SIZE (Threadline's
own limit); the providers' limits (Graph's 4 MB, Gmail's 35 MB) are the sandbox's to
enforce, each with its provider's answer."""

from django.http import HttpRequest


def request_body(request: HttpRequest) -> bytes:
    if getattr(request, "_sandbox_body", None) is None:
        request._sandbox_body = request.read()  # type: ignore[attr-defined]
    body: bytes = request._sandbox_body  # type: ignore[attr-defined]
    return body
