"""Reads, always filtered by owner: another user's ids simply do not exist."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime

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


@dataclass
class BranchPage:
    """A page of the active branch (oldest first) and, per message, the ids of its versions (siblings)."""

    messages: list[Message]
    has_more: bool
    next_before: int | None
    siblings: dict[int, list[int]] = field(default_factory=dict)


def branch_page(*, conversation: Conversation, before: int | None = None, limit: int = 50) -> BranchPage:
    """The newest ``limit`` messages of the active branch older than ``before``, in three queries.

    Only ids and parents of the whole tree are read; full rows only for the page.
    """
    tree = list(conversation.messages.values_list("id", "parent_id", "role"))
    parents = {pk: parent for pk, parent, _ in tree}
    children: dict[int | None, list[tuple[int, str]]] = {}
    for pk, parent, role in tree:
        children.setdefault(parent, []).append((pk, role))
    leaf = conversation.current_leaf_id if conversation.current_leaf_id in parents else max(parents, default=None)
    chain: list[int] = []
    node = leaf
    while node is not None and node in parents and len(chain) <= len(parents):
        chain.append(node)
        node = parents[node]
    chain.reverse()
    if before is not None:
        chain = chain[: chain.index(before)] if before in chain else []
    page_ids = chain[-limit:] if limit > 0 else []
    rows = {m.pk: m for m in message_list(conversation=conversation).filter(pk__in=page_ids)}
    messages = [rows[pk] for pk in page_ids if pk in rows]
    siblings = {}
    for message in messages:
        same_role = sorted(pk for pk, role in children.get(message.parent_id, ()) if role == message.role)
        siblings[message.pk] = same_role
    has_more = len(chain) > len(page_ids)
    return BranchPage(messages, has_more, page_ids[0] if has_more and page_ids else None, siblings)


def message_tree(*, conversation: Conversation) -> list[dict[str, object]]:
    """Every message's id, parent, role and status: the shape of the tree, without contents."""
    return [dict(row) for row in conversation.messages.values("id", "parent_id", "role", "status").order_by("id")]


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


def _encode_cursor(conversation: Conversation) -> str:
    raw = json.dumps([conversation.pinned, conversation.updated_at.isoformat(), conversation.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[bool, datetime, int] | None:
    try:
        pinned, updated, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return bool(pinned), datetime.fromisoformat(updated), int(pk)
    except (ValueError, TypeError):
        return None


def conversation_page(
    *, conversations: QuerySet[Conversation], cursor: str = "", limit: int = 50
) -> tuple[list[Conversation], str | None]:
    """A page of ``conversations`` in list order (pinned first, newest first) after ``cursor``; and the next cursor.

    Keyset pagination: one query whatever the page, and no row is skipped or repeated when lists change.
    """
    ordered = conversations.select_related("model", "profile").order_by("-pinned", "-updated_at", "-id")
    after = _decode_cursor(cursor) if cursor else None
    if after is not None:
        pinned, updated, pk = after
        later = Q(pinned=pinned, updated_at__lt=updated) | Q(pinned=pinned, updated_at=updated, id__lt=pk)
        ordered = ordered.filter(later | Q(pinned=False) if pinned else later)
    rows = list(ordered[: limit + 1])
    page = rows[:limit]
    return page, _encode_cursor(page[-1]) if len(rows) > limit else None


def conversation_search(*, user: User, query: str) -> QuerySet[Conversation]:
    """Conversations whose title or any message contains ``query`` (case-insensitive; Hangul as is)."""
    query = query.strip()[:200]
    conversations = conversation_list(user=user)
    if not query:
        return conversations
    matching = Message.objects.filter(conversation__owner=user, content__icontains=query).values("conversation_id")
    return conversations.filter(Q(title__icontains=query) | Q(pk__in=matching))
