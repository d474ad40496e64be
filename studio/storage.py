"""The studio's private storage: STORAGES["studio"] when defined, else a folder under STUDIO_ROOT.

The folder has no base URL, so nothing can link to a file directly; :mod:`studio.views` serves images after
checking the viewer. Names are generated here (owner id / random hex), never taken from a user.
"""

from __future__ import annotations

import secrets
from functools import cache

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages


class PrivateFileStorage(FileSystemStorage):
    """A folder with no URL at all: FileSystemStorage would otherwise fall back to MEDIA_URL."""

    def url(self, name: str | None) -> str:
        raise ValueError("Studio images have no public URL; serve them through studio.views.image_file.")


@cache
def studio_storage() -> Storage:
    if "studio" in settings.STORAGES:
        return storages["studio"]
    return PrivateFileStorage(location=settings.STUDIO_ROOT)


def image_save(*, owner_id: int, data: bytes) -> str:
    """Store PNG bytes under a fresh name; return the name the storage chose."""
    name = f"{owner_id}/{secrets.token_hex(16)}.png"
    return studio_storage().save(name, ContentFile(data))


def image_open(name: str):
    return studio_storage().open(name, "rb")


def image_delete(name: str) -> None:
    storage = studio_storage()
    if name and storage.exists(name):
        storage.delete(name)
