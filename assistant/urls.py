from django.urls import path

from . import api, views

app_name = "assistant"
C = "api/conversations/<int:conversation_id>/"
urlpatterns = [
    path("chat/", views.chat, name="chat"),
    path("chat/<int:conversation_id>/", views.chat, name="conversation"),
    path("api/conversations/", api.ConversationListApi.as_view(), name="api-conversations"),
    path(C, api.ConversationDetailApi.as_view(), name="api-conversation"),
    path(C + "messages/", api.MessageListApi.as_view(), name="api-messages"),
    path(C + "messages/tree/", api.MessageTreeApi.as_view(), name="api-message-tree"),
    path(C + "branch/", api.BranchSelectApi.as_view(), name="api-branch"),
    path(C + "export/", api.ExportApi.as_view(), name="api-export"),
    path(C + "attachments/", api.AttachmentUploadApi.as_view(), name="api-attachments"),
    path(C + "messages/<int:message_id>/feedback/", api.FeedbackApi.as_view(), name="api-feedback"),
    path("api/models/", api.ModelListApi.as_view(), name="api-models"),
    path("api/profiles/", api.ProfileListApi.as_view(), name="api-profiles"),
    path("api/templates/", api.TemplateListApi.as_view(), name="api-templates"),
]
