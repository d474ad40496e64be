"""Celery tasks: take ids, and let the service re-fetch and decide."""

from celery import shared_task

from . import services


@shared_task(name="assistant.generate_reply", ignore_result=True)
def generate_reply(message_id: int) -> None:
    services.reply_generate(message_id=message_id)


@shared_task(name="assistant.title_conversation", ignore_result=True)
def title_conversation(conversation_id: int) -> None:
    services.conversation_title(conversation_id=conversation_id)
