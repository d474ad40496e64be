"""Download a model from the Hugging Face Hub into MODELS_DIR and register it."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from catalog.models import ModelEntry
from catalog.services import model_register

SAFE_PATTERNS = ["*.json", "*.safetensors", "*.gguf", "*.txt", "*.model", "*.tiktoken", "*.jinja", "*.md"]


class Command(BaseCommand):
    help = "Download a model (safetensors / GGUF only) from the Hugging Face Hub and register it."

    def add_arguments(self, parser):
        parser.add_argument("hub_id", help="e.g. LGAI-EXAONE/EXAONE-4.0-1.2B")
        parser.add_argument("--revision", default="main", help="Branch, tag or commit; pin a commit for production.")
        parser.add_argument("--kind", choices=ModelEntry.Kind.values, default=ModelEntry.Kind.TEXT)
        parser.add_argument("--engine", choices=ModelEntry.Engine.values, default=None)
        parser.add_argument("--file", default=None, help="Download only this file (e.g. one GGUF quantisation).")
        parser.add_argument("--context-length", type=int, default=4096)
        parser.add_argument("--licence", default="", help="Recorded in the registry and shown to users.")

    def handle(
        self,
        *args,
        hub_id: str,
        revision: str,
        kind: str,
        engine: str | None,
        file: str | None,
        context_length: int,
        licence: str,
        **options,
    ):
        try:
            from huggingface_hub import hf_hub_download, snapshot_download
        except ImportError as exc:
            raise CommandError("pull_model needs huggingface_hub: pip install -e '.[ml]'.") from exc
        folder = slugify(hub_id.replace("/", "-"))
        target = Path(settings.MODELS_DIR) / folder
        try:
            if file:
                path = Path(hf_hub_download(hub_id, file, revision=revision, local_dir=target))
            else:
                path = Path(
                    snapshot_download(hub_id, revision=revision, local_dir=target, allow_patterns=SAFE_PATTERNS)
                )
        except Exception as exc:
            raise CommandError(
                f"Could not download {hub_id}@{revision}: {type(exc).__name__}: {exc}\n"
                "This machine may be offline or the id may be wrong. To install a model without network, copy "
                f"its folder (safetensors or GGUF) to {target} on this machine and add it under Administration > "
                "Models, or run this command again when online."
            ) from exc
        # Record the commit the files came from (huggingface_hub writes it beside them), not a moving branch name.
        from inference.safety import recorded_revisions

        commits = set(recorded_revisions(path).values())
        if len(commits) == 1:
            revision = commits.pop()
        engine = engine or (
            "llamacpp" if path.suffix == ".gguf" else "diffusers" if kind in ("image", "upscale") else "transformers"
        )
        entry = model_register(
            name=folder[:100],
            display_name=hub_id[:120],
            kind=kind,
            engine=engine,
            path=str(path.relative_to(settings.MODELS_DIR)),
            hub_id=hub_id,
            revision=revision,
            licence=licence,
            context_length=context_length,
        )
        self.stdout.write(self.style.SUCCESS(f"Downloaded {hub_id} to {path} and registered it as {entry.name}."))
