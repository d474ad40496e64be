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


def _sign_in(client, username, password, *, via, forwarded_for=None):
    extra = {"REMOTE_ADDR": via}
    if forwarded_for:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_behind_a_trusted_proxy_one_client_cannot_lock_out_another(client, user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    for _ in range(3):
        _sign_in(client, "alice", "wrong", via="10.0.0.2", forwarded_for="203.0.113.9")

    attacker = _sign_in(client, "alice", "s3cret-pass-phrase", via="10.0.0.2", forwarded_for="203.0.113.9")
    client.cookies.clear()
    victim = _sign_in(client, "alice", "s3cret-pass-phrase", via="10.0.0.2", forwarded_for="198.51.100.7")

    assert "Too many failed sign-in attempts" in attacker.content.decode()
    assert victim.status_code == 302


def test_forwarded_for_from_an_untrusted_address_is_ignored(client, user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    for n in range(3):
        _sign_in(client, "alice", "wrong", via="198.51.100.50", forwarded_for=f"203.0.113.{n}")

    again = _sign_in(client, "alice", "s3cret-pass-phrase", via="198.51.100.50", forwarded_for="203.0.113.77")

    assert "Too many failed sign-in attempts" in again.content.decode()


def test_forwarded_for_is_ignored_when_no_proxy_is_configured(client, user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.TRUSTED_PROXIES = []
    for n in range(3):
        _sign_in(client, "alice", "wrong", via="10.0.0.2", forwarded_for=f"203.0.113.{n}")

    again = _sign_in(client, "alice", "s3cret-pass-phrase", via="10.0.0.2", forwarded_for="203.0.113.77")

    assert "Too many failed sign-in attempts" in again.content.decode()


def test_client_address_is_the_first_untrusted_hop_from_the_right(rf, settings):
    from exaone_web.client_address import client_address

    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "172.16.0.0/12"]
    through_two = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 172.17.0.3")
    spoofed = rf.get("/", REMOTE_ADDR="198.51.100.50", HTTP_X_FORWARDED_FOR="1.2.3.4")
    garbage = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")

    assert client_address(through_two) == "198.51.100.7"  # 1.2.3.4 was written by the client itself
    assert client_address(spoofed) == "198.51.100.50"
    assert client_address(garbage) == "10.0.0.2"


def test_password_spraying_over_many_user_names_is_stopped_per_address(client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 10
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    make_user("victim", password="victim-pass-phrase-2026")
    for n in range(5):
        _sign_in(client, f"user{n}", "Spring2026!", via="198.51.100.9")

    sprayer = _sign_in(client, "victim", "victim-pass-phrase-2026", via="198.51.100.9")
    elsewhere = _sign_in(client, "victim", "victim-pass-phrase-2026", via="198.51.100.10")

    assert "Too many failed sign-in attempts" in sprayer.content.decode()
    assert elsewhere.status_code == 302


def test_a_successful_sign_in_does_not_reset_the_address_count(client, user, make_user, settings):
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 4
    make_user("victim", password="victim-pass-phrase-2026")
    for n in range(3):
        _sign_in(client, f"user{n}", "wrong", via="198.51.100.9")
    _sign_in(client, "alice", "s3cret-pass-phrase", via="198.51.100.9")  # the attacker's own account
    client.cookies.clear()
    _sign_in(client, "user9", "wrong", via="198.51.100.9")

    sprayer = _sign_in(client, "victim", "victim-pass-phrase-2026", via="198.51.100.9")

    assert "Too many failed sign-in attempts" in sprayer.content.decode()


def test_addresses_of_one_ipv6_network_count_together(client, user, settings):
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        _sign_in(client, f"user{n}", "wrong", via=f"2001:db8:1:2::{n + 1}")

    same_network = _sign_in(client, "alice", "s3cret-pass-phrase", via="2001:db8:1:2::99")
    other_network = _sign_in(client, "alice", "s3cret-pass-phrase", via="2001:db8:1:3::1")

    assert "Too many failed sign-in attempts" in same_network.content.decode()
    assert other_network.status_code == 302
