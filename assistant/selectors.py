"""Reads, always filtered by owner: another user's ids simply do not exist."""

from django.db.models import F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from accounts.models import User

from .models import Conversation, Message


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user)


def conversation_get(*, user: User, conversation_id: int) -> Conversation:
    try:
        return conversation_list(user=user).select_related("model").get(pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such conversation.") from exc


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.select_related("feedback", "profile_version").prefetch_related("attachments")


def message_active_list(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.filter(status__in=[Message.Status.QUEUED, Message.Status.STREAMING])


def message_active_count(*, user: User) -> int:
    return Message.objects.filter(
        conversation__owner=user, status__in=[Message.Status.QUEUED, Message.Status.STREAMING]
    ).count()


def branch(*, leaf: Message) -> list[Message]:
    """The messages from the root to ``leaf``, in order (one query, whatever the depth)."""
    by_id = {m.pk: m for m in Message.objects.filter(conversation_id=leaf.conversation_id)}
    chain = []
    node_id: int | None = leaf.pk
    while node_id is not None and node_id in by_id:
        chain.append(by_id[node_id])
        node_id = by_id[node_id].parent_id
    return chain[::-1]


def tokens_used_today(*, user: User) -> int:
    """Prompt and completion tokens of the user's replies since midnight UTC."""
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(
        conversation__owner=user, role=Message.Role.ASSISTANT, created_at__gte=midnight
    ).aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))["total"]
    return int(used or 0)


def conversation_search(*, user: User, query: str) -> QuerySet[Conversation]:
    """Conversations whose title or any message contains ``query`` (case-insensitive; Hangul as is)."""
    query = query.strip()[:200]
    conversations = conversation_list(user=user)
    if not query:
        return conversations
    return conversations.filter(Q(title__icontains=query) | Q(messages__content__icontains=query)).distinct()
