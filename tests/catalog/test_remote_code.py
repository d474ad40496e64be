"""Models that ask for remote code need a pinned revision (SECURITY.md line 12), at every door."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog.models import ModelEntry
from catalog.services import model_register
from inference.errors import InvalidRequest
from inference.registry import get_engine
from inference.types import ModelSpec

pytestmark = pytest.mark.django_db


def test_registering_remote_code_without_a_revision_is_refused():
    with pytest.raises(ValidationError) as caught:
        model_register(
            name="remote-code",
            display_name="Remote",
            kind="text",
            engine="transformers",
            path="x",
            trust_remote_code=True,
        )

    assert "revision" in caught.value.message_dict
    assert not ModelEntry.objects.filter(name="remote-code").exists()


@pytest.mark.parametrize("flag", ["trust_remote_code", "allow_pickle"])
@pytest.mark.parametrize("revision", ["main", "v1.0", "0123456"])
def test_a_branch_tag_or_short_hash_does_not_count_as_pinned(flag, revision):
    with pytest.raises(ValidationError) as caught:
        model_register(
            name="moving",
            display_name="Moving",
            kind="text",
            engine="transformers",
            path="x",
            revision=revision,
            **{flag: True},
        )

    assert "40 characters" in str(caught.value.message_dict["revision"])


def test_remote_code_with_a_pinned_revision_can_be_registered():
    entry = model_register(
        name="remote-code",
        display_name="Remote",
        kind="text",
        engine="transformers",
        path="x",
        trust_remote_code=True,
        revision="0123456789abcdef0123456789abcdef01234567",
    )

    assert entry.trust_remote_code and ModelSpec.from_dict(entry.to_spec()).revision == entry.revision


def test_an_entry_changed_behind_the_forms_back_is_still_refused_by_the_engines(tmp_path):
    entry = model_register(name="sneaky", display_name="Sneaky", kind="text", engine="transformers", path=str(tmp_path))
    ModelEntry.objects.filter(pk=entry.pk).update(trust_remote_code=True)  # no validation on this path
    entry.refresh_from_db()

    with pytest.raises(InvalidRequest, match="pin the revision to the full 40-character commit hash"):
        get_engine(ModelSpec.from_dict(entry.to_spec()))


def test_the_admin_form_refuses_remote_code_without_a_revision(admin_client):
    response = admin_client.post(
        "/admin/catalog/modelentry/add/",
        {
            "name": "via-admin",
            "display_name": "Via admin",
            "kind": "text",
            "engine": "transformers",
            "path": "x",
            "context_length": 4096,
            "trust_remote_code": "on",
            "options": "{}",
            "default_sampling": "{}",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Pin a commit" in response.content.decode()
    assert not ModelEntry.objects.filter(name="via-admin").exists()
