from django.urls import path

from . import v1, views

app_name = "apikeys"
urlpatterns = [
    path("settings/keys/", views.keys, name="keys"),
    path("settings/keys/<int:key_id>/revoke/", views.key_revoke, name="revoke"),
    path("metrics", views.prometheus, name="metrics"),
    path("v1/models", v1.models, name="v1-models"),
    path("v1/models/<path:model>", v1.model_detail, name="v1-model"),
    path("v1/chat/completions", v1.chat_completions, name="v1-chat-completions"),
]
