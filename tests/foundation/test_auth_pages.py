"""Login and logout pages: a user logs in with a password, is sent on, and logs out with a POST."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_page_renders_a_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_login_with_the_right_password_signs_the_user_in_and_follows_next(client, rep):
    response = client.post(reverse("login"), {"username": "rep", "password": "pw-test-123", "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert int(client.session["_auth_user_id"]) == rep.pk


def test_login_with_a_wrong_password_shows_an_error_and_signs_nobody_in(client, rep):
    response = client.post(reverse("login"), {"username": "rep", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_login_refuses_an_off_site_next_url(client, rep):
    response = client.post(
        reverse("login"), {"username": "rep", "password": "pw-test-123", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_logout_by_post_signs_out_and_returns_to_login(client, rep):
    client.force_login(rep)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_logout_by_get_is_refused(client, rep):
    client.force_login(rep)
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
