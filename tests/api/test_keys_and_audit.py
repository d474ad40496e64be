"""Keys, scopes, isolation, limits, metrics and the audit log, through the app's own HTTP paths."""

from __future__ import annotations

import re

import pytest

from apikeys.models import ApiKey, AuditEvent, UsageLimits
from apikeys.services import key_create


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.django_db
def test_a_key_is_shown_once_and_only_its_hash_is_stored(client, user):
    client.force_login(user)

    created = client.post("/settings/keys/", {"name": "notebook", "scopes": ["chat"], "expires": "30"}, follow=True)
    again = client.get("/settings/keys/")

    secret = re.search(r"<code>(exa-[^<]+)</code>", created.content.decode()).group(1)
    key = ApiKey.objects.get(owner=user)
    assert secret not in again.content.decode() and key.prefix in again.content.decode()
    assert key.digest != secret and secret not in str(list(ApiKey.objects.values()))
    assert AuditEvent.objects.filter(action="key_created", actor=user, target_id=str(key.pk)).exists()


@pytest.mark.django_db
def test_a_key_in_the_query_string_never_authenticates(client, user):
    secret = key_create(user=user, name="k", scopes=["chat"]).secret

    for name in ("api_key", "key", "access_token", "token"):
        response = client.get(f"/v1/models?{name}={secret}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_api_key"
    assert client.get("/v1/models", **bearer(secret)).status_code == 200


@pytest.mark.django_db
def test_an_admin_revokes_another_users_key_and_it_stops_working(client, admin_user, user):
    secret = key_create(user=user, name="k", scopes=["chat"]).secret
    key = ApiKey.objects.get(owner=user)
    client.force_login(admin_user)

    client.post("/admin/apikeys/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    client.logout()
    refused = client.get("/v1/models", **bearer(secret))
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
    assert AuditEvent.objects.filter(action="key_revoked", actor=admin_user, target_id=str(key.pk)).exists()


@pytest.mark.django_db
def test_a_user_cannot_revoke_another_users_key(client, user, other_user):
    key_create(user=other_user, name="bob's", scopes=["chat"])
    key = ApiKey.objects.get(owner=other_user)
    client.force_login(user)

    response = client.post(f"/settings/keys/{key.pk}/revoke/")

    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.django_db
def test_a_key_of_user_a_cannot_read_user_bs_conversations(client, user, other_user):
    from assistant.models import Conversation, Message

    theirs = Conversation.objects.create(owner=other_user, title="bob secret")
    Message.objects.create(conversation=theirs, role="user", content="canary 5512")
    secret = key_create(user=user, name="k", scopes=["read"]).secret
    base = f"/api/conversations/{theirs.pk}/"

    responses = [
        client.get(base, **bearer(secret)),
        client.get(base + "messages/", **bearer(secret)),
        client.get(base + "messages/tree/", **bearer(secret)),
        client.get(base + "export/", **bearer(secret)),
    ]
    listing = client.get("/api/conversations/", **bearer(secret))

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert (
        listing.status_code == 200
        and "canary" not in listing.content.decode()
        and "bob" not in listing.content.decode()
    )


@pytest.mark.django_db
def test_a_read_only_key_cannot_change_anything(client, user):
    secret = key_create(user=user, name="k", scopes=["read"]).secret

    response = client.post("/api/conversations/", {}, content_type="application/json", **bearer(secret))

    assert response.status_code == 403


@pytest.mark.django_db
def test_past_the_requests_a_minute_the_api_answers_429_with_retry_after(client, user):
    UsageLimits.objects.create(user=user, requests_per_minute=2)
    secret = key_create(user=user, name="k", scopes=["chat"]).secret

    statuses = [client.get("/v1/models", **bearer(secret)) for _ in range(3)]

    assert [r.status_code for r in statuses] == [200, 200, 429]
    refused = statuses[-1]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.django_db
def test_the_token_quota_refuses_a_chat_with_429_and_retry_after_to_midnight(client, user, registered_model):
    from assistant.models import Conversation, Message

    user.daily_token_quota = 10
    user.save()
    chat = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=chat, role="assistant", content="x", prompt_tokens=5, completion_tokens=6)
    secret = key_create(user=user, name="k", scopes=["chat"]).secret

    response = client.post(
        "/v1/chat/completions",
        {"model": "never-loaded", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
        **bearer(secret),
    )

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "never-loaded", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"model": "never-loaded", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
        ({"model": "never-loaded", "messages": []}, "messages"),
        ({"model": "never-loaded", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "never-loaded", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    ],
)
def test_malformed_requests_get_a_400_naming_the_parameter(client, user, registered_model, body, param):
    secret = key_create(user=user, name="k", scopes=["chat"]).secret

    response = client.post("/v1/chat/completions", body, content_type="application/json", **bearer(secret))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.django_db
def test_metrics_are_protected_and_move_after_a_request(client, user, admin_user, settings):
    settings.METRICS_TOKEN = "scrape-me"
    secret = key_create(user=user, name="k", scopes=["chat"]).secret

    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    before = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    client.get("/v1/models", **bearer(secret))
    after = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    client.force_login(admin_user)
    staff = client.get("/metrics")

    assert anonymous.status_code == 401 and wrong.status_code == 401 and staff.status_code == 200
    assert _sample(after, 'exaone_api_requests_total{endpoint="models",status="200"}') == 1 + _sample(
        before, 'exaone_api_requests_total{endpoint="models",status="200"}'
    )
    assert 'exaone_queue_depth{queue="text"}' in after


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.django_db
def test_sign_ins_and_failures_are_audited(client, user):
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass-phrase"})

    actions = list(AuditEvent.objects.order_by("at", "id").values_list("action", "actor_name"))
    assert actions == [("sign_in_failed", "alice"), ("sign_in", "alice")]


@pytest.mark.django_db
def test_admin_changes_to_users_are_audited_and_the_log_cannot_be_edited_or_deleted(client, admin_user, user):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=[user], action_flag=CHANGE, change_message="role", single_object=True
    )
    event = AuditEvent.objects.get(action="admin_changed")
    client.force_login(admin_user)

    change = client.post(f"/admin/apikeys/auditevent/{event.pk}/change/", {"action": "sign_in"})
    delete = client.post(f"/admin/apikeys/auditevent/{event.pk}/delete/", {"post": "yes"})
    bulk = client.post("/admin/apikeys/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk]})
    listing = client.get("/admin/apikeys/auditevent/?action__exact=admin_changed")

    assert event.target_type == ContentType.objects.get_for_model(user).app_label + ".user"
    assert event.actor == admin_user and event.target_id == str(user.pk)
    assert change.status_code == 403 and delete.status_code == 403
    assert bulk.status_code in (200, 302) and AuditEvent.objects.filter(pk=event.pk).exists()
    assert listing.status_code == 200 and str(user) in listing.content.decode()
    AuditEvent.objects.get(pk=event.pk)


@pytest.mark.django_db
def test_every_metric_the_grafana_dashboard_reads_is_exposed(client, admin_user):
    import json
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    wanted = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"exaone_[a-z_]+", target["expr"])
    }
    client.force_login(admin_user)

    exposed = client.get("/metrics").content.decode()

    missing = {name for name in wanted if f"# TYPE {re.sub(r'_bucket$', '', name)} " not in exposed}
    assert wanted and not missing


@pytest.mark.django_db
def test_an_export_is_audited(client, user):
    from assistant.models import Conversation

    chat = Conversation.objects.create(owner=user, title="exported")
    client.force_login(user)

    response = client.get(f"/api/conversations/{chat.pk}/export/?format=json")

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="export")
    assert event.actor == user and event.target_id == str(chat.pk) and event.detail == {"format": "json"}


@pytest.mark.django_db
def test_an_admin_reading_a_chat_is_audited(client, admin_user, user, settings):
    from assistant.models import Conversation

    settings.ADMIN_CAN_READ_CHATS = True
    chat = Conversation.objects.create(owner=user, title="private")
    client.force_login(admin_user)

    response = client.get(f"/admin/assistant/conversation/{chat.pk}/change/")

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="chat_access")
    assert event.actor == admin_user and event.target_id == str(chat.pk)


@pytest.mark.django_db
def test_a_change_to_a_model_through_the_admin_is_audited(client, admin_user, registered_model):
    client.force_login(admin_user)
    page = client.get(f"/admin/catalog/modelentry/{registered_model.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(display_name="Renamed", options="{}", default_sampling="{}")

    response = client.post(f"/admin/catalog/modelentry/{registered_model.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    event = AuditEvent.objects.get(action="admin_changed", target_type="catalog.modelentry")
    assert event.actor == admin_user and event.target_id == str(registered_model.pk)


@pytest.mark.django_db
def test_the_keys_page_shows_the_users_limits(client, user):
    UsageLimits.objects.create(user=user, requests_per_minute=7, images_per_day=3)
    user.daily_token_quota = 5000
    user.save()
    client.force_login(user)

    page = client.get("/settings/keys/").content.decode()

    assert ">7<" in page and "/ 5000" in page and "/ 3" in page


@pytest.mark.django_db
def test_a_browser_session_alone_does_not_open_the_v1_api(client, user, registered_model):
    client.force_login(user)

    listing = client.get("/v1/models")
    chat = client.post(
        "/v1/chat/completions",
        {"model": "never-loaded", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
    )

    assert listing.status_code == 401 and chat.status_code == 401
    assert listing["WWW-Authenticate"].startswith("Bearer")
