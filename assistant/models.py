from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExpertProfile(models.Model):
    """An admin-managed expert persona: system prompts per language, model, sampling and who may use it."""

    class Domain(models.TextChoices):
        GENERAL = "general", _("General")
        CHEMISTRY = "chemistry", _("Chemistry")
        MEDICINE = "medicine", _("Medicine")
        TELECOM = "telecom", _("Telecom")
        MANUFACTURING = "manufacturing", _("Manufacturing")

    class ReplyLanguage(models.TextChoices):
        FOLLOW = "", _("Follow the user's message")
        KOREAN = "ko", _("Always Korean")
        ENGLISH = "en", _("Always English")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ko = models.CharField(_("name (Korean)"), max_length=120)
    domain = models.CharField(_("domain"), max_length=20, choices=Domain.choices, default=Domain.GENERAL)
    system_prompt_en = models.TextField(_("system prompt (English)"), max_length=8000)
    system_prompt_ko = models.TextField(_("system prompt (Korean)"), max_length=8000)
    reply_language = models.CharField(
        _("reply language"), max_length=2, choices=ReplyLanguage.choices, default="", blank=True
    )
    model = models.ForeignKey(
        "catalog.ModelEntry", on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("default model")
    )
    default_sampling = models.JSONField(_("default sampling"), default=dict, blank=True)
    allowed_roles = models.JSONField(
        _("allowed roles"), default=list, blank=True, help_text=_("Empty: every role. Otherwise a list of roles.")
    )
    groups = models.ManyToManyField(
        "auth.Group", blank=True, verbose_name=_("groups"), help_text=_("Empty: everyone with an allowed role.")
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "name_en"]
        verbose_name = _("expert profile")
        verbose_name_plural = _("expert profiles")

    def __str__(self) -> str:
        return self.name_en

    def display_name(self, language: str) -> str:
        return self.name_ko if language == "ko" else self.name_en


class ExpertProfileVersion(models.Model):
    """What a profile said when a message used it; messages point here, so history stays exact."""

    profile = models.ForeignKey(ExpertProfile, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["profile", "-version"]
        constraints = [models.UniqueConstraint(fields=["profile", "version"], name="unique_profile_version")]
        verbose_name = _("expert profile version")
        verbose_name_plural = _("expert profile versions")

    def __str__(self) -> str:
        return f"{self.profile} v{self.version}"


class PromptTemplate(models.Model):
    """A reusable prompt with {{variables}}, shared by an admin with groups (or everyone)."""

    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("body"), max_length=8000, help_text=_("Use {{name}} for a variable."))
    domain = models.CharField(
        _("domain"), max_length=20, choices=ExpertProfile.Domain.choices, default=ExpertProfile.Domain.GENERAL
    )
    shared_with_everyone = models.BooleanField(_("shared with everyone"), default=False)
    groups = models.ManyToManyField("auth.Group", blank=True, verbose_name=_("groups"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "title"]
        verbose_name = _("prompt template")
        verbose_name_plural = _("prompt templates")

    def __str__(self) -> str:
        return self.title


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        verbose_name=_("owner"),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.ForeignKey(
        "catalog.ModelEntry", on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("model")
    )
    profile = models.ForeignKey(
        ExpertProfile, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("expert profile")
    )
    pinned = models.BooleanField(_("pinned"), default=False)
    enable_thinking = models.BooleanField(_("deep thinking"), default=False)
    #: The last message of the branch the user is looking at; the model sees this branch only.
    current_leaf = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pinned", "-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        # Never the title: admin pages (a user's delete page, for one) list objects by name (SECURITY.md line 22).
        return f"Conversation #{self.pk}"

    @property
    def group_name(self) -> str:
        """The websocket group: one per owner and conversation."""
        return f"chat.u{self.owner_id}.c{self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        STREAMING = "streaming", _("Streaming")
        DONE = "done", _("Done")
        STOPPED = "stopped", _("Stopped")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    #: The answer's Markdown rendered and sanitised once, when the reply ends (never for user messages).
    content_html = models.TextField(blank=True, editable=False)
    reasoning = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    error = models.TextField(blank=True)
    model_name = models.CharField(max_length=120, blank=True)
    profile_version = models.ForeignKey(
        ExpertProfileVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    #: The job that writes (or last wrote) this reply.
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    #: Language the reply was asked to be in ("ko" / "en"), detected from the user's message or fixed.
    language = models.CharField(max_length=8, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    #: The passages a grounded answer was given, numbered as cited ([1], [2]); see assistant/grounding.py.
    evidence = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"]), models.Index(fields=["status"])]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        # Never the content: see Conversation.__str__.
        return f"{self.role.capitalize()} message #{self.pk}"


class Attachment(models.Model):
    """A table the user attached (CSV or XLSX), parsed and bounded at upload."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10)
    table = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        # Never the file name, which often says what the chat is about: see Conversation.__str__.
        return f"Attachment #{self.pk}"


class MessageFeedback(models.Model):
    class Rating(models.IntegerChoices):
        UP = 1, _("Helpful")
        DOWN = -1, _("Not helpful")

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.SmallIntegerField(_("rating"), choices=Rating.choices)
    comment = models.TextField(_("comment"), max_length=2000, blank=True)
    #: Copied from the message, so admins can compare profiles and models without reading chats.
    profile_name = models.CharField(_("expert profile"), max_length=120, blank=True)
    profile_version = models.PositiveIntegerField(_("profile version"), null=True, blank=True)
    model_name = models.CharField(_("model"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")

    def __str__(self) -> str:
        return f"{self.get_rating_display()} · {self.model_name}"


class ChatAccessLog(models.Model):
    """Every time an administrator opened a user's conversation (only possible when allowed by settings)."""

    admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    conversation_id = models.BigIntegerField()
    conversation_owner = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    path = models.CharField(max_length=300)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("chat access log entry")
        verbose_name_plural = _("chat access log")

    def __str__(self) -> str:
        return f"{self.admin} → #{self.conversation_id}"
