"""A print export leaving the server is in the audit log (issue 13, item 7); the flat preview is not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apikeys.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_downloading_a_print_export_is_audited(client, user, picture, inline_jobs):
    client.force_login(user)
    answer = client.post(
        reverse("studio:refine-api-export", args=[picture.pk]),
        {"shape": "label", "width_mm": 60, "height_mm": 40, "corner_radius_mm": 4},
        content_type="application/json",
    )
    job = client.get(answer.json()["url"]).json()

    pdf = client.get(job["downloads"]["pdf"])

    assert pdf.status_code == 200
    event = AuditEvent.objects.get(action="export", target_type="studio.printexport")
    assert event.actor == user and event.target_id == str(job["id"]) and event.detail == {"format": "pdf"}
    assert str(picture.pk) in event.target
