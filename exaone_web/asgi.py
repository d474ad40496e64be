"""HTTP and websocket entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exaone_web.settings.base")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: consumers use the ORM.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from assistant.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from exaone_web.jobs.sweep import sweeper  # noqa: E402
from exaone_web.request_limits import RequestBodyLimit  # noqa: E402
from exaone_web.sockets import OriginValidator  # noqa: E402
from knowledge.routing import websocket_urlpatterns as knowledge_websockets  # noqa: E402
from studio.routing import websocket_urlpatterns as studio_sockets  # noqa: E402

if settings.JOBS_SWEEPER:
    sweeper.start()

application = ProtocolTypeRouter(
    {
        # Bodies are counted as they arrive: 413 at the first byte over the limit, chunked or not.
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": OriginValidator(
            AuthMiddlewareStack(URLRouter(chat_sockets + studio_sockets + knowledge_websockets))
        ),
    }
)
