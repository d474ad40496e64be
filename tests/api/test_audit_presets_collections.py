"""Administrators' changes to style presets and knowledge collections land in the audit log (issue 13, item 7)."""

from __future__ import annotations

import pytest

from apikeys.models import AuditEvent
from knowledge.models import Collection
from studio.models import StylePreset

pytestmark = pytest.mark.django_db


def _change(client, url: str, **changes):
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(changes)
    return client.post(url, data)


def test_adding_and_changing_a_style_preset_in_the_admin_is_audited(client, admin_user):
    client.force_login(admin_user)
    added = client.post(
        "/admin/studio/stylepreset/add/",
        {
            "slug": "kraft",
            "name_en": "Kraft",
            "name_ko": "크라프트",
            "default_width": 512,
            "default_height": 512,
            "default_steps": 20,
            "roles": "[]",
            "enabled": "on",
        },
    )
    preset = StylePreset.objects.get(slug="kraft")

    changed = _change(client, f"/admin/studio/stylepreset/{preset.pk}/change/", name_en="Kraft paper", roles="[]")

    assert added.status_code == 302 and changed.status_code == 302
    events = AuditEvent.objects.filter(target_type="studio.stylepreset", target_id=str(preset.pk))
    assert {e.action for e in events} == {"admin_created", "admin_changed"}
    assert all(e.actor == admin_user for e in events)


def test_changing_a_collection_in_the_admin_is_audited(client, admin_user, user):
    collection = Collection.objects.create(owner=user, name="Manuals")
    client.force_login(admin_user)

    changed = _change(client, f"/admin/knowledge/collection/{collection.pk}/change/", description="Shared manuals")

    assert changed.status_code == 302, changed.context["adminform"].form.errors if changed.context else ""
    event = AuditEvent.objects.get(action="admin_changed", target_type="knowledge.collection")
    assert event.actor == admin_user and event.target_id == str(collection.pk) and event.target == "Manuals"
