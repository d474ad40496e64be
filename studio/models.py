"""The design studio: style presets, generation requests (one job each), stored images and boards.

Images are files in the studio's own storage (never under MEDIA_URL): they are served only through
:mod:`studio.views`, which checks the owner or a board shared with one of the viewer's groups.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from catalog.models import ModelEntry

#: Bounds a user can push: every one is checked again in :mod:`studio.services` with a translated message.
MAX_BRIEF_CHARS = 1000
MAX_PROMPT_CHARS = 1000
MIN_STEPS, MAX_STEPS = 1, 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 20.0
MIN_SIDE, MAX_SIDE = 64, 1024
MAX_SEED = 2**32 - 1
MAX_IMAGES = 4

DEFAULT_REWRITE_INSTRUCTION = (
    "Rewrite the design brief below as one English prompt for an image generation model: a comma-separated "
    "list of the subject, materials, colours, lighting, composition and style. Reply with the prompt only."
)


def _role_choices() -> list[tuple[str, Any]]:
    return list(User.Role.choices)


class StylePreset(models.Model):
    """An admin-managed look: a prompt fragment and negative added to the user's, with sensible defaults."""

    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=80)
    name_ko = models.CharField(_("name (Korean)"), max_length=80)
    prompt_fragment = models.CharField(_("prompt fragment"), max_length=500, blank=True)
    negative = models.CharField(_("negative prompt"), max_length=500, blank=True)
    default_width = models.PositiveIntegerField(
        _("default width"), default=512, validators=[MinValueValidator(MIN_SIDE), MaxValueValidator(MAX_SIDE)]
    )
    default_height = models.PositiveIntegerField(
        _("default height"), default=512, validators=[MinValueValidator(MIN_SIDE), MaxValueValidator(MAX_SIDE)]
    )
    default_steps = models.PositiveIntegerField(
        _("default steps"), default=25, validators=[MinValueValidator(MIN_STEPS), MaxValueValidator(MAX_STEPS)]
    )
    roles = models.JSONField(
        _("roles allowed"),
        default=list,
        blank=True,
        help_text=_("Roles that may use this preset (expert, designer, admin); empty: everyone."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["name_en"]
        verbose_name = _("style preset")
        verbose_name_plural = _("style presets")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_ko if (get_language() or "").startswith("ko") and self.name_ko else self.name_en

    def allows(self, user: User) -> bool:
        return self.enabled and (not self.roles or user.role in self.roles or user.is_superuser)


class ImageModelSettings(models.Model):
    """Studio settings of one image model: whether Korean briefs are rewritten, and with which instruction."""

    model = models.OneToOneField(
        ModelEntry,
        on_delete=models.CASCADE,
        related_name="studio_settings",
        limit_choices_to={"kind": ModelEntry.Kind.IMAGE},
        verbose_name=_("image model"),
    )
    rewrite_enabled = models.BooleanField(
        _("rewrite briefs into English"),
        default=True,
        help_text=_("Turn off for image models whose text encoder understands Korean."),
    )
    rewrite_instruction = models.TextField(_("rewrite instruction"), default=DEFAULT_REWRITE_INSTRUCTION)

    class Meta:
        verbose_name = _("image model settings")
        verbose_name_plural = _("image model settings")

    def __str__(self) -> str:
        return str(self.model)


class RoleSafety(models.Model):
    """Whether the offline image classifier checks the results of one role's users."""

    role = models.CharField(_("role"), max_length=16, choices=_role_choices, unique=True)
    check_images = models.BooleanField(_("check images"), default=False)

    class Meta:
        verbose_name = _("image safety for a role")
        verbose_name_plural = _("image safety by role")

    def __str__(self) -> str:
        return self.get_role_display()


class Generation(models.Model):
    """One request for 1-4 images; the job layer runs it (kind ``studio.generate``)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    brief = models.TextField(_("brief"), max_length=MAX_BRIEF_CHARS)
    prompt = models.TextField(_("English prompt"), max_length=MAX_PROMPT_CHARS)
    negative = models.TextField(_("negative prompt"), max_length=MAX_PROMPT_CHARS, blank=True)
    model = models.ForeignKey(ModelEntry, on_delete=models.PROTECT, related_name="+")
    preset = models.ForeignKey(StylePreset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    steps = models.PositiveIntegerField(_("steps"))
    guidance = models.FloatField(_("guidance"))
    seed = models.BigIntegerField(_("seed"))
    count = models.PositiveSmallIntegerField(_("images"), default=1)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "status"], name="studio_gen_owner_status")]

    def __str__(self) -> str:  # never the brief: admin pages list related objects by name
        return f"generation #{self.pk}"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def group_name(self) -> str:
        return studio_group(self.owner_id)


def studio_group(user_id: int) -> str:
    return f"studio.user.{user_id}"


class StudioImage(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_images")
    generation = models.ForeignKey(Generation, on_delete=models.SET_NULL, null=True, related_name="images")
    #: Name inside the studio storage (a generated name, never the user's).
    file = models.CharField(max_length=200)
    seed = models.BigIntegerField(_("seed"))
    metadata = models.JSONField(_("metadata"), default=dict)
    starred = models.BooleanField(_("starred"), default=False)
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reason = models.CharField(_("flag reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"image #{self.pk}"


class Board(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_boards")
    name = models.CharField(_("name"), max_length=80)
    images = models.ManyToManyField(StudioImage, related_name="boards", blank=True)
    shared_with_groups = models.ManyToManyField(Group, related_name="studio_boards", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"board #{self.pk}"
