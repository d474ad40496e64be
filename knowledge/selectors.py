"""Reads, always filtered by who asks: a collection or document the user may not read is a 404.

A user reads a collection they own, one shared with a group they are in (checked on every call, so leaving
a group takes effect on the next request), and one an admin attached to an expert profile they may use.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from assistant.models import Conversation
from assistant.profiles import profile_list

from .models import Collection, ConversationCollection, Document


def collection_readable(*, user: User) -> QuerySet[Collection]:
    return Collection.objects.filter(
        Q(owner=user) | Q(shared_with_groups__in=user.groups.all()) | Q(profiles__in=profile_list(user=user))
    ).distinct()


def collection_list(*, user: User) -> QuerySet[Collection]:
    """Collections shown on the knowledge page: owned or shared with the user's groups."""
    return (
        Collection.objects.filter(Q(owner=user) | Q(shared_with_groups__in=user.groups.all()))
        .distinct()
        .select_related("owner")
        .order_by("name", "id")
    )


def collection_get(*, user: User, collection_id: int) -> Collection:
    return get_object_or_404(collection_readable(user=user), pk=collection_id)


def collection_get_owned(*, user: User, collection_id: int) -> Collection:
    """For changes (upload, delete): the owner only; everyone else gets the same 404."""
    return get_object_or_404(Collection, pk=collection_id, owner=user)


def document_list(*, collection: Collection) -> QuerySet[Document]:
    return collection.documents.select_related("job").order_by("-created_at", "-id")


def document_get(*, user: User, document_id: int) -> Document:
    return get_object_or_404(
        Document.objects.select_related("collection"), pk=document_id, collection__in=collection_readable(user=user)
    )


def searchable_collection_ids(*, user: User, conversation: Conversation) -> list[int]:
    """What a reply in ``conversation`` searches: the composer's choice and the profile's collections,
    each only if ``user`` may read it now."""
    wanted = Q(pk__in=ConversationCollection.objects.filter(conversation=conversation).values("collection_id"))
    if conversation.profile_id is not None:
        wanted |= Q(profiles=conversation.profile_id)
    return sorted(set(collection_readable(user=user).filter(wanted).values_list("pk", flat=True)))
