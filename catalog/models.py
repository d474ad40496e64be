"""The admin-managed registry of models that chat and studio pick from."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class ModelEntry(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        VISION = "vision", _("Image to text")
        UPSCALE = "upscale", _("Upscaler")

    class Engine(models.TextChoices):
        LLAMACPP = "llamacpp", "llama.cpp (GGUF)"
        TRANSFORMERS = "transformers", "Transformers"
        OPENAI = "openai", _("OpenAI-compatible server")
        DIFFUSERS = "diffusers", "Diffusers"

    name = models.SlugField(_("name"), max_length=100, unique=True)
    display_name = models.CharField(_("display name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    engine = models.CharField(_("engine"), max_length=20, choices=Engine.choices)
    path = models.CharField(
        _("path or URL"),
        max_length=500,
        help_text=_("A folder or file under the models directory, an absolute path, or a server base URL."),
    )
    hub_id = models.CharField(_("hub id"), max_length=200, blank=True)
    revision = models.CharField(_("revision"), max_length=64, blank=True)
    licence = models.CharField(_("licence"), max_length=200, blank=True)
    context_length = models.PositiveIntegerField(_("context length"), default=4096)
    options = models.JSONField(_("engine options"), default=dict, blank=True)
    default_sampling = models.JSONField(_("default sampling"), default=dict, blank=True)
    allow_pickle = models.BooleanField(
        _("allow pickle checkpoints"), default=False, help_text=_("Pickle files can run code when loaded.")
    )
    trust_remote_code = models.BooleanField(
        _("trust remote code"), default=False, help_text=_("Needs a pinned revision.")
    )
    demo = models.BooleanField(_("demo model"), default=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    is_default = models.BooleanField(_("default for its kind"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "-is_default", "display_name"]
        verbose_name = _("model")
        verbose_name_plural = _("models")

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        # Plain data and functions; the engines themselves load only in workers.
        from inference.types import ENGINES, is_pinned

        if (self.trust_remote_code or self.allow_pickle) and not is_pinned(self.revision):
            raise ValidationError(
                {
                    "revision": _(
                        "Pin a commit (all 40 characters of its hash, not a branch or tag such as main) before "
                        "allowing remote code or pickle files."
                    )
                }
            )

        if self.kind and self.engine and (self.kind, self.engine) not in ENGINES:
            raise ValidationError({"engine": _("This engine cannot serve this kind of model.")})

    def resolved_path(self) -> str:
        if self.engine == self.Engine.OPENAI or not self.path:
            return self.path
        path = Path(self.path)
        return str(path if path.is_absolute() else Path(settings.MODELS_DIR) / path)

    def to_spec(self) -> dict:
        """The plain-data model spec that workers hand to ``inference.registry.ModelSpec``."""
        options = dict(self.options)
        if settings.INFERENCE_THREADS and self.engine == self.Engine.LLAMACPP:
            options.setdefault("n_threads", settings.INFERENCE_THREADS)
        return {
            "name": self.display_name,
            "kind": self.kind,
            "engine": self.engine,
            "path": self.resolved_path(),
            "hub_id": self.hub_id,
            "revision": self.revision,
            "context_length": self.context_length,
            "allow_pickle": self.allow_pickle,
            "trust_remote_code": self.trust_remote_code,
            "options": options,
            "default_sampling": dict(self.default_sampling),
            "demo": self.demo,
        }
