"""Register a model served by an OpenAI-compatible server (vLLM, SGLang, llama-server) in the registry.

Used by docker-compose's ``vllm`` profile: ``manage.py register_server_model exaone http://vllm:8000/v1
--served-name exaone --allowed-host vllm``. The SSRF guard allows only the hosts named here.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from catalog.models import ModelEntry
from catalog.services import model_register


class Command(BaseCommand):
    help = "Register (or update) a text model served by an OpenAI-compatible server."

    def add_arguments(self, parser):
        parser.add_argument("name", help="registry name (a slug), e.g. exaone")
        parser.add_argument("base_url", help="the server's base URL, e.g. http://vllm:8000/v1")
        parser.add_argument("--served-name", default="", help="the model name the server expects")
        parser.add_argument("--display-name", default="", help="shown to users")
        parser.add_argument("--allowed-host", action="append", default=[], help="non-public host the model may reach")
        parser.add_argument("--context-length", type=int, default=32768)
        parser.add_argument("--max-concurrency", type=int, default=64, help="requests the server batches at once")
        parser.add_argument("--default", action="store_true", help="make it the default text model")

    def handle(self, *args, **options):
        entry = model_register(
            name=options["name"],
            display_name=options["display_name"] or options["name"],
            kind=ModelEntry.Kind.TEXT,
            engine=ModelEntry.Engine.OPENAI,
            path=options["base_url"],
            context_length=options["context_length"],
            options={
                "model": options["served_name"] or options["name"],
                "allowed_hosts": options["allowed_host"],
                "max_concurrency": options["max_concurrency"],
            },
            is_default=options["default"],
        )
        self.stdout.write(f"Registered {entry.name} at {entry.path}")
