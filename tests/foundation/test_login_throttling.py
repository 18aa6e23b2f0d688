"""Issue 19 finding 7: wrong passwords lock the login out (django-axes); an admin can unlock it."""

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_small_limit")]

LIMIT = 3  # the setting's default is 10; a small one keeps the test short


@pytest.fixture
def _small_limit():
    with override_settings(AXES_FAILURE_LIMIT=LIMIT):
        yield


def _login(client: Client, password: str, username: str = "rep"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused(rep):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(LIMIT - 1):
        assert _login(client, "wrong").status_code == 200
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    right = _login(client, "pw-test-123")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    body = right.content.decode()
    assert "Too many failed logins" in body and "administrator" in body


def test_a_hundred_wrong_passwords_never_let_the_right_one_in(rep):
    """The finding as reported: 100 wrong passwords, then the right one."""
    client = Client(REMOTE_ADDR="203.0.113.8")
    for _ in range(100):
        _login(client, "wrong")
    assert _login(client, "pw-test-123").status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_throttled_too(admin_user):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(LIMIT):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "admin", "password": "pw-admin-123"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_admin_unlocks_the_user_by_command_and_the_right_password_works_again(rep):
    client = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(LIMIT):
        _login(client, "wrong")
    assert _login(client, "pw-test-123").status_code == 429
    call_command("axes_reset_username", "rep")
    assert not AccessAttempt.objects.filter(username="rep").exists()
    assert _login(client, "pw-test-123").status_code == 302
    assert "_auth_user_id" in client.session


def test_an_admin_unlocks_the_user_in_the_admin(rep, admin_user):
    client = Client(REMOTE_ADDR="203.0.113.11")
    for _ in range(LIMIT):
        _login(client, "wrong")
    admin = Client()
    admin.force_login(admin_user)
    changelist = admin.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200 and b"rep" in changelist.content
    attempt = AccessAttempt.objects.get(username="rep")
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _login(client, "pw-test-123").status_code == 302


def test_a_successful_login_resets_the_count_and_other_addresses_are_not_locked(rep):
    client = Client(REMOTE_ADDR="203.0.113.12")
    for _ in range(LIMIT - 1):
        _login(client, "wrong")
    assert _login(client, "pw-test-123").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert _login(client, "wrong").status_code == 200  # counting from zero again, not locked yet
    elsewhere = Client(REMOTE_ADDR="198.51.100.1")
    for _ in range(LIMIT):
        _login(elsewhere, "wrong")
    assert _login(client, "pw-test-123").status_code == 302  # the other address's lockout is its own
