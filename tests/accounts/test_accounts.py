"""Sign-in, sign-out, language and the rules around them."""

from __future__ import annotations

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_no_account_exists_after_migrations():
    assert User.objects.count() == 0


def test_sign_in_through_the_form_rotates_the_session(client, user):
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key

    response = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass-phrase"})

    assert response.status_code == 302 and response.headers["Location"] == "/chat/"
    assert client.session.session_key != before
    assert int(client.session["_auth_user_id"]) == user.pk


def test_sign_out_needs_post(client, user):
    client.force_login(user)

    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/chat/").status_code == 302


def test_repeated_failures_lock_the_sign_in(client, user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    locked = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass-phrase"})

    assert locked.status_code == 200
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_language_choice_is_remembered_for_the_user(client, user):
    client.force_login(user)

    client.post("/accounts/language/", {"language": "ko", "next": "/chat/"})
    user.refresh_from_db()
    client.cookies.clear()  # another browser: only the account remembers
    client.force_login(user)
    page = client.get("/chat/")

    assert user.language == "ko"
    assert page.headers["Content-Language"] == "ko"
    assert "새 대화" in page.content.decode()


def test_unsupported_language_is_refused(client, user):
    client.force_login(user)

    response = client.post("/accounts/language/", {"language": "xx"})

    assert response.status_code == 400


def test_language_switch_ignores_foreign_next_urls(client):
    response = client.post("/accounts/language/", {"language": "en", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert not response.headers["Location"].startswith("https://evil.example")


def test_admin_is_translated(admin_client):
    admin_client.cookies["django_language"] = "ko"

    page = admin_client.get("/admin/")

    assert "사이트 관리" in page.content.decode() or "관리" in page.content.decode()


def test_admin_sign_in_is_rate_limited_like_the_app_sign_in(client, make_user):
    make_user("root", password="root-pass-phrase-2026", is_staff=True, is_superuser=True)
    for _ in range(15):
        client.post("/admin/login/", {"username": "root", "password": "wrong", "next": "/admin/"})

    right = {"username": "root", "password": "root-pass-phrase-2026", "next": "/admin/"}
    response = client.post("/admin/login/", right)

    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the sign-in page


def test_admin_sign_in_still_works_without_failures(client, make_user):
    make_user("root", password="root-pass-phrase-2026", is_staff=True, is_superuser=True)

    right = {"username": "root", "password": "root-pass-phrase-2026", "next": "/admin/"}
    response = client.post("/admin/login/", right)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_sign_in_refuses_non_staff_and_counts_it(client, user, settings):
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        client.post("/admin/login/", {"username": "alice", "password": "s3cret-pass-phrase"})

    locked = client.post("/admin/login/", {"username": "alice", "password": "s3cret-pass-phrase"})

    assert "Too many failed sign-in attempts" in locked.content.decode()
