"""Collections of documents, their passages (chunks) and vectors; which conversation searches what."""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import models
from django.utils.translation import gettext_lazy as _


@cache
def private_storage() -> Storage:
    """Uploaded documents live outside MEDIA_ROOT: no URL serves them; a view checks access and streams them.

    STORAGES["knowledge"] when defined (S3 in service mode, so workers on other hosts read the same files),
    else a folder. A callable, so migrations name it instead of one machine's absolute path.
    """
    if "knowledge" in settings.STORAGES:
        return storages["knowledge"]
    return FileSystemStorage(location=settings.KNOWLEDGE_STORAGE_DIR, base_url=None)


def _stored_name(instance: Document, filename: str) -> str:
    # Never the user's file name: a generated one, so `../`, NUL or very long names cannot reach the disk.
    suffix = Path(filename).suffix.lower()[:10] if Path(filename).suffix.isascii() else ""
    return f"documents/{uuid.uuid4().hex}{suffix if suffix.replace('.', '').isalnum() else ''}"


class Collection(models.Model):
    """A set of documents owned by a user, readable by the groups it is shared with and the profiles it feeds."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=500, blank=True)
    shared_with_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="knowledge_collections", verbose_name=_("shared with groups")
    )
    #: Attached by an admin: every conversation with one of these profiles searches this collection.
    profiles = models.ManyToManyField(
        "assistant.ExpertProfile",
        blank=True,
        related_name="knowledge_collections",
        verbose_name=_("expert profiles"),
        help_text=_("Every conversation with one of these profiles searches this collection."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")

    def __str__(self) -> str:
        return self.name

    @property
    def group_name(self) -> str:
        return f"knowledge.collection.{self.pk}"


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="documents", verbose_name=_("collection")
    )
    file = models.FileField(_("file"), storage=private_storage, upload_to=_stored_name, max_length=200)
    filename = models.CharField(_("file name"), max_length=255)
    #: What the content turned out to be after sniffing (never just the extension).
    mime = models.CharField(_("type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    page_count = models.PositiveIntegerField(_("pages"), default=0)
    chunk_count = models.PositiveIntegerField(_("passages"), default=0)
    error = models.TextField(_("error"), blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:  # never the file name: admin delete pages list related objects by name
        return f"document #{self.pk}"


class Chunk(models.Model):
    """One passage: a few sentences under one heading on one page, with its vector and keyword tokens.

    ``embedding`` holds the float32 vector (the source of truth; in PostgreSQL a pgvector copy sits in the
    same row), so deleting the row deletes the vector with it, in the same transaction.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    #: Denormalised from the document: retrieval filters on it without a join.
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    page = models.PositiveIntegerField(default=1)
    heading = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    language = models.CharField(max_length=2, blank=True)
    #: Space-separated keyword tokens (Korean morphemes, English words, codes and numbers), padded with spaces.
    tokens = models.TextField(blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    embedding = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="unique_chunk_ordinal")]
        indexes = [models.Index(fields=["collection", "embedding_model"], name="chunk_collection_model")]

    def __str__(self) -> str:
        return f"document #{self.document_id} passage #{self.ordinal}"


class ConversationCollection(models.Model):
    """The collection a user chose in the composer for one conversation (besides its profile's)."""

    conversation = models.OneToOneField(
        "assistant.Conversation", on_delete=models.CASCADE, related_name="knowledge_choice"
    )
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.conversation_id} -> {self.collection_id}"
