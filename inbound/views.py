import json
import logging
import math
import time

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.datastructures import MultiValueDictKeyError

from inbound import services
from inbound.metrics import record_outcome
from inbound.models import DailyTally

logger = logging.getLogger(__name__)


def _refuse(status: int, reason: str) -> HttpResponse:
    logger.warning("Inbound webhook refused (%d): %s", status, reason)
    # Refused before the service saw it, so not in the daily tallies; counted all the same.
    record_outcome(DailyTally.Outcome.REFUSED)
    return JsonResponse({"status": "refused", "reason": reason}, status=status)


def _seconds_from_now(timestamp: str) -> float | None:
    """How far a post's signed Unix time is from now; None when it is not a number."""
    try:
        return abs(time.time() - int(timestamp))
    except ValueError:
        return None
    except OverflowError:  # hundreds of digits: further away than a float can say
        return math.inf


class InboundWebhookView(MailgunInboundWebhookView):
    """Mailgun's route `forward()` posts, raw MIME (`inbound_mime/`) or parsed (`inbound/`).

    Anymail checks basic auth (if configured) and the HMAC signature and builds the
    message; we add what it leaves to the application: posts older than
    INBOUND_SIGNATURE_MAX_AGE_SECONDS and reused tokens are refused, and every failure is
    answered with a 4xx and a reason, never a 500. Mailgun stops retrying on 406."""

    def __init__(self, **kwargs) -> None:
        # Without a signing key the endpoint is switched off rather than a configuration
        # error on every request (full-sync installations need no inbound mail).
        self.enabled = bool(settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"))
        if self.enabled:
            super().__init__(**kwargs)

    def post(self, request, *args, **kwargs) -> HttpResponse:
        if not self.enabled:
            return _refuse(404, "inbound mail is not configured on this installation")
        try:
            self.run_validators(request)
        except AnymailWebhookValidationFailure as failure:
            return _refuse(403, str(failure))
        age = _seconds_from_now(request.POST["timestamp"])
        if age is None:
            return _refuse(400, "timestamp is not a number")
        if age > settings.INBOUND_SIGNATURE_MAX_AGE_SECONDS:
            return _refuse(
                403,
                "timestamp is more than "
                f"{settings.INBOUND_SIGNATURE_MAX_AGE_SECONDS} seconds away from now",
            )
        token = request.POST["token"]
        if services.webhook_token_seen(token):
            return _refuse(406, "replayed post: this token was already used")
        body_mime = request.POST.get("body-mime")
        if body_mime is not None and len(body_mime) > settings.INBOUND_MAX_MESSAGE_BYTES:
            return _refuse(
                406,
                f"too large: {len(body_mime)} bytes, the limit is "
                f"{settings.INBOUND_MAX_MESSAGE_BYTES}",
            )
        try:
            raw = self._raw_message(request, body_mime)
        except (MultiValueDictKeyError, KeyError) as missing:
            return _refuse(400, f"missing field {missing}")
        except Exception as error:  # a stranger's post, read by library code that can fail
            # in many ways; the type only, as the exception's text may quote the message.
            return _refuse(400, f"unreadable post ({type(error).__name__})")
        received = services.message_receive(
            raw=raw, recipient=request.POST.get("recipient", ""), replay_token=token
        )
        body = {"status": received.outcome, "reason": received.reason}
        return JsonResponse(body, status=received.http_status)

    def _raw_message(self, request, body_mime: str | None) -> bytes:
        if body_mime is not None:
            # Mailgun posts the message as received; Django decoded the field as UTF-8.
            return body_mime.encode("utf-8")
        if "message-headers" in request.POST:
            json.loads(request.POST["message-headers"])  # a clear 400 if it is not JSON
        event = self.esp_to_anymail_event(request)
        return event.message.as_bytes()
