from celery import shared_task

from inbound.services import webhook_tokens_forget_expired


@shared_task(ignore_result=True)
def forget_expired_webhook_tokens() -> int:
    return webhook_tokens_forget_expired()
