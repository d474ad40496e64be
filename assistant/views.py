from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_list

from . import profiles, selectors


def _user(request: HttpRequest) -> User:
    """The signed-in user (the view's permission or login check ran first)."""
    return cast(User, request.user)


@login_required
def chat(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = None
    if conversation_id is not None:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
    conversations, next_cursor = selectors.conversation_page(
        conversations=selectors.conversation_list(user=_user(request)), limit=50
    )
    return render(
        request,
        "assistant/chat.html",
        {
            "conversation": conversation,
            "conversations": conversations,
            "conversations_next": next_cursor or "",
            "models": model_list(kind=ModelEntry.Kind.TEXT),
            "profiles": profiles.profile_list(user=_user(request)),
        },
    )
