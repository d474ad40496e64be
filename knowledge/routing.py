from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/knowledge/<int:collection_id>/", consumers.CollectionConsumer.as_asgi()),
]
