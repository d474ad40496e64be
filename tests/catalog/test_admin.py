"""The model registry's admin pages save through the same service as the commands."""

import pytest

from catalog.models import ModelEntry
from catalog.services import model_register

pytestmark = pytest.mark.django_db


def _form(**fields):
    form = {
        "name": "new-model",
        "display_name": "New model",
        "kind": "text",
        "engine": "llamacpp",
        "path": "new.gguf",
        "hub_id": "",
        "revision": "",
        "licence": "",
        "context_length": "4096",
        "options": "{}",
        "default_sampling": "{}",
        "enabled": "on",
    }
    form.update(fields)
    return form


def test_a_new_default_saved_in_the_admin_demotes_the_old_default(admin_client):
    old = model_register(
        name="old-model", display_name="Old", kind="text", engine="llamacpp", path="old.gguf", is_default=True
    )

    response = admin_client.post("/admin/catalog/modelentry/add/", _form(is_default="on"))

    assert response.status_code == 302, response.content[:500]
    old.refresh_from_db()
    assert not old.is_default and ModelEntry.objects.get(name="new-model").is_default


def test_an_engine_that_cannot_serve_the_kind_is_refused_in_the_admin(admin_client):
    response = admin_client.post("/admin/catalog/modelentry/add/", _form(engine="diffusers"))

    assert response.status_code == 200 and "cannot serve" in response.content.decode()
    assert not ModelEntry.objects.filter(name="new-model").exists()


def test_renaming_in_the_admin_keeps_one_row(admin_client):
    entry = model_register(name="first-name", display_name="First", kind="text", engine="llamacpp", path="a.gguf")

    response = admin_client.post(
        f"/admin/catalog/modelentry/{entry.pk}/change/", _form(name="second-name", display_name="Second")
    )

    assert response.status_code == 302
    assert list(ModelEntry.objects.values_list("name", flat=True)) == ["second-name"]
