"""Reads, always filtered by the viewer: another user's ids simply do not exist (404)."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_list

from .models import Board, Generation, StudioImage, StylePreset


def _get(queryset: QuerySet, pk: object, what: str):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No such {what}.") from exc


def generation_list(*, user: User) -> QuerySet[Generation]:
    return Generation.objects.filter(owner=user).select_related("model", "preset", "job")


def generation_get(*, user: User, generation_id: object) -> Generation:
    return _get(generation_list(user=user), generation_id, "generation")


def generation_active_list(*, user: User) -> QuerySet[Generation]:
    return generation_list(user=user).filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])


def image_list(*, user: User) -> QuerySet[StudioImage]:
    return StudioImage.objects.filter(owner=user).select_related("generation")


def image_get(*, user: User, image_id: object) -> StudioImage:
    return _get(image_list(user=user), image_id, "image")


def shared_board_list(*, user: User) -> QuerySet[Board]:
    """Boards other users shared with one of ``user``'s groups (read-only for ``user``)."""
    return Board.objects.filter(shared_with_groups__in=user.groups.all()).exclude(owner=user).distinct()


def image_viewable_get(*, user: User, image_id: object) -> StudioImage:
    """An image ``user`` may see: their own, or an unflagged one on a board shared with one of their groups."""
    shared = StudioImage.objects.filter(boards__in=shared_board_list(user=user), flagged=False)
    return _get(StudioImage.objects.filter(Q(owner=user) | Q(pk__in=shared.values("pk"))).distinct(), image_id, "image")


def image_search(
    *,
    user: User,
    board: Board | None = None,
    model: str = "",
    text: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    starred: bool = False,
) -> QuerySet[StudioImage]:
    """The gallery: the user's images, or a board's (a shared board shows its unflagged images only)."""
    if board is not None:
        images = board.images.all()
        if board.owner_id != user.pk:
            images = images.filter(flagged=False)
    else:
        images = image_list(user=user)
    if model:
        images = images.filter(metadata__model=model)
    if text:
        images = images.filter(Q(generation__brief__icontains=text) | Q(generation__prompt__icontains=text))
    if date_from:
        images = images.filter(created_at__date__gte=date_from)
    if date_to:
        images = images.filter(created_at__date__lte=date_to)
    if starred:
        images = images.filter(starred=True)
    return images.select_related("generation").order_by("-created_at", "-id")


def board_list(*, user: User) -> QuerySet[Board]:
    return Board.objects.filter(owner=user).prefetch_related("shared_with_groups")


def board_get(*, user: User, board_id: object) -> Board:
    return _get(board_list(user=user), board_id, "board")


def board_viewable_get(*, user: User, board_id: object) -> Board:
    return _get(
        Board.objects.filter(Q(owner=user) | Q(pk__in=shared_board_list(user=user).values("pk"))), board_id, "board"
    )


def preset_list(*, user: User) -> list[StylePreset]:
    return [p for p in StylePreset.objects.filter(enabled=True) if p.allows(user)]


def image_model_list() -> QuerySet[ModelEntry]:
    return model_list(kind=ModelEntry.Kind.IMAGE)
