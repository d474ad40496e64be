from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/studio/", consumers.StudioConsumer.as_asgi()),
]
