from django.urls import path

from . import api, views

app_name = "assistant"
urlpatterns = [
    path("chat/", views.chat, name="chat"),
    path("chat/<int:conversation_id>/", views.chat, name="conversation"),
    path("api/conversations/", api.ConversationListApi.as_view(), name="api-conversations"),
    path(
        "api/conversations/<int:conversation_id>/",
        api.ConversationDetailApi.as_view(),
        name="api-conversation",
    ),
    path("api/conversations/<int:conversation_id>/messages/", api.MessageListApi.as_view(), name="api-messages"),
    path("api/models/", api.ModelListApi.as_view(), name="api-models"),
]
