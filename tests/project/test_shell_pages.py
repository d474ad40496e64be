"""The page shell (templates/base.html) without a browser: scripts the CSP allows, the theme script first, error
pages inside the shell in both languages. The browser tests (tests/browser/test_shell_browser.py) check how
they behave and run axe-core on them."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.utils import translation
from django.views import defaults

pytestmark = pytest.mark.django_db


def scripts_and_styles(html: str) -> list[str]:
    """The <script> and stylesheet <link> tags of a page, in document order."""
    return re.findall(r"<script\b[^>]*>|<link\b[^>]*rel=\"stylesheet\"[^>]*>", html)


def test_the_theme_script_comes_first_and_blocking_before_the_stylesheet(client):
    page = client.get("/accounts/login/").content.decode()

    tags = scripts_and_styles(page)

    assert "js/theme.js" in tags[0], tags
    assert "css/app.css" in tags[1], tags
    assert "defer" not in tags[0] and "async" not in tags[0]
    assert page.index("js/theme.js") < page.index("</head>")


def test_every_script_on_the_chat_page_is_a_file_the_csp_allows(client, user):
    client.force_login(user)

    page = client.get("/chat/").content.decode()

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert len(scripts) >= 4
    assert all('src="' in attributes and not body.strip() for attributes, body in scripts), scripts
    assert re.search(r"<[a-z][^>]*\son[a-z]+\s*=", page) is None  # no onclick= and the like


def test_a_missing_page_is_shown_in_the_shell_with_a_way_back(client, user):
    client.force_login(user)

    response = client.get("/chat/987654321/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in page
    assert 'class="skip-link" href="#main"' in page
    assert 'id="menu-button"' in page
    assert 'href="/chat/"' in page


def test_the_server_error_page_renders_without_a_request_context_in_korean():
    request = RequestFactory().get("/anything/")

    with translation.override("ko"):
        response = defaults.server_error(request)

    page = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="ko">' in page
    assert "문제가 발생했습니다" in page
    assert "js/theme.js" in page
    assert 'id="menu-button"' not in page  # no user here: no menu that would need one


def test_a_form_sent_without_its_csrf_cookie_gets_the_expired_form_page(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/accounts/language/", {"language": "ko", "next": "/chat/"})

    page = response.content.decode()
    assert response.status_code == 403
    assert "The form has expired" in page
    assert "Reload the page" in page
