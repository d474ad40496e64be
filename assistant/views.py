from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.models import ModelEntry
from catalog.selectors import model_list

from . import profiles, selectors


@login_required
def chat(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = None
    if conversation_id is not None:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    conversations, next_cursor = selectors.conversation_page(
        conversations=selectors.conversation_list(user=request.user), limit=50
    )
    return render(
        request,
        "assistant/chat.html",
        {
            "conversation": conversation,
            "conversations": conversations,
            "conversations_next": next_cursor or "",
            "models": model_list(kind=ModelEntry.Kind.TEXT),
            "profiles": profiles.profile_list(user=request.user),
        },
    )
