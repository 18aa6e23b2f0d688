"""API keys (hashed, revocable, expiring, admin and command) and per-key / per-user throttling."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.settings import api_settings

from accounts.models import ApiKey, api_key_digest
from accounts.services import api_key_create, api_key_revoke
from tests.api.conftest import client_for


def test_key_is_stored_hashed_with_only_a_prefix_in_clear(db):
    key, raw = api_key_create(name="shop", role="integration")
    assert raw.startswith("lcrm_") and raw[5:17] == key.prefix
    assert key.hashed_key == api_key_digest(raw) and raw not in key.hashed_key
    assert not ApiKey.objects.filter(hashed_key=raw).exists()


def test_valid_key_authenticates_and_stamps_last_use(db):
    key, raw = api_key_create(name="shop", role="integration")
    assert client_for(key=raw).get("/api/v1/contacts/").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer lcrm_000000000000AAAAAAAAAAAAAAAAAAAAAA",
        "Bearer nonsense",
        "Bearer",
        "Bearer a b",
        "Bearer \u00e9\u00e9",
    ],
)
def test_bad_keys_are_401(db, header):
    response = client_for().get("/api/v1/contacts/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate")


def test_a_right_prefix_with_a_wrong_secret_is_401(db):
    _, raw = api_key_create(name="shop", role="integration")
    assert client_for(key=raw[:-4] + "AAAA").get("/api/v1/contacts/").status_code == 401


def test_revoked_key_is_refused(db):
    key, raw = api_key_create(name="shop", role="integration")
    api_key_revoke(key=key)
    response = client_for(key=raw).get("/api/v1/contacts/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_expired_key_is_refused(db):
    key, raw = api_key_create(name="shop", role="integration", expires_at=timezone.now() + dt.timedelta(days=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client_for(key=raw).get("/api/v1/contacts/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_revoking_a_cached_key_here_refuses_it_from_the_next_request(db):
    key, raw = api_key_create(name="shop", role="integration")
    client = client_for(key=raw)
    assert client.get("/api/v1/stages/").status_code == 200  # now cached by this process
    api_key_revoke(key=key)
    response = client.get("/api/v1/stages/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_a_revocation_by_another_process_is_effective_within_the_cache_seconds(db, monkeypatch):
    from accounts import selectors

    clock = [1000.0]
    monkeypatch.setattr(selectors, "_clock", lambda: clock[0])
    key, raw = api_key_create(name="shop", role="integration")
    client = client_for(key=raw)
    assert client.get("/api/v1/stages/").status_code == 200
    # Another process revokes: this process's cache does not hear of it...
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    clock[0] += selectors.api_key_cache_seconds() - 0.5
    assert client.get("/api/v1/stages/").status_code == 200  # ...for at most API_KEY_CACHE_SECONDS
    clock[0] += 0.5
    response = client.get("/api/v1/stages/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_the_key_cache_bound_is_five_seconds_unless_set(db, settings):
    from accounts.selectors import api_key_cache_seconds

    assert api_key_cache_seconds() == 5
    settings.API_KEY_CACHE_SECONDS = 0
    assert api_key_cache_seconds() == 0


def test_without_a_key_cache_every_request_reads_the_key(db, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    key, raw = api_key_create(name="shop", role="integration")
    client = client_for(key=raw)
    assert client.get("/api/v1/stages/").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/stages/").status_code == 401


def test_expiry_is_exact_even_for_a_cached_key(db, monkeypatch):
    import time_machine

    from accounts import selectors

    monkeypatch.setattr(selectors, "_clock", lambda: 1000.0)  # the cache entry never ages in this test
    key, raw = api_key_create(name="shop", role="integration", expires_at=timezone.now() + dt.timedelta(hours=1))
    client = client_for(key=raw)
    assert client.get("/api/v1/stages/").status_code == 200  # cached now
    with time_machine.travel(key.expires_at + dt.timedelta(milliseconds=1)):
        # The cached entry is still fresh: expiry is checked on it, against the time of the request.
        response = client.get("/api/v1/stages/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_second_key_with_the_right_prefix_and_a_wrong_secret_is_refused_after_the_right_one_is_cached(db):
    _, raw = api_key_create(name="shop", role="integration")
    assert client_for(key=raw).get("/api/v1/stages/").status_code == 200
    assert client_for(key=raw[:-4] + "AAAA").get("/api/v1/stages/").status_code == 401


def test_last_use_is_written_at_most_once_a_minute_per_key(db):
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    key, raw = api_key_create(name="shop", role="integration")
    client = client_for(key=raw)

    def stamps(requests: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            for _ in range(requests):
                assert client.get("/api/v1/stages/").status_code == 200
        table = ApiKey._meta.db_table
        return sum(1 for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"'))

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert stamps(5) == 1
    key.refresh_from_db()
    assert key.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=59), tick=False):
        assert stamps(3) == 0
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        assert stamps(3) == 1
    key.refresh_from_db()
    assert key.last_used_at == start + dt.timedelta(seconds=61)


def test_last_use_is_stamped_once_a_minute_across_processes(db):
    from accounts.services import api_key_touch

    key, _ = api_key_create(name="shop", role="integration")
    now = timezone.now()
    # Two processes, each with its own copy of the key read before either stamped it.
    first, second = ApiKey.objects.get(pk=key.pk), ApiKey.objects.get(pk=key.pk)
    assert api_key_touch(key=first, now=now) is True
    assert api_key_touch(key=second, now=now + dt.timedelta(seconds=5)) is False
    key.refresh_from_db()
    assert key.last_used_at == now


def test_sales_rep_key_needs_a_user(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        api_key_create(name="rep", role="sales_rep")


def test_create_api_key_command_prints_the_key_alone_on_its_last_line(db):
    out = io.StringIO()
    call_command("create_api_key", "web shop", "--role", "integration", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("lcrm_") and " " not in last
    assert client_for(key=last).get("/api/v1/stages/").status_code == 200
    assert ApiKey.objects.get().name == "web shop"


def test_admin_creates_a_key_shows_it_once_and_revokes(admin_user, client):
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/apikey/add/", {"name": "crm-sync", "role": "integration", "user": ""}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="crm-sync")
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for message in shown for word in message.split() if word.startswith("lcrm_"))
    assert key.matches(raw)
    response = client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_selected", "_selected_action": [key.pk]},
        follow=True,
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client_for(key=raw).get("/api/v1/stages/").status_code == 401


def _rates(**rates):
    return override_settings(
        REST_FRAMEWORK={**_current_rest_framework(), "DEFAULT_THROTTLE_RATES": {**_default_rates(), **rates}}
    )


def _current_rest_framework():
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)


def _default_rates():
    return dict(_current_rest_framework()["DEFAULT_THROTTLE_RATES"])


@pytest.fixture
def reload_api_settings():
    api_settings.reload()
    yield
    api_settings.reload()


def test_key_is_throttled_with_429_and_retry_after(db, reload_api_settings):
    _, raw = api_key_create(name="shop", role="integration")
    _, other = api_key_create(name="email tool", role="integration")
    with _rates(key_read="3/min"):
        api_settings.reload()
        client = client_for(key=raw)
        assert [client.get("/api/v1/stages/").status_code for _ in range(3)] == [200, 200, 200]
        response = client.get("/api/v1/stages/")
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 61
        assert "detail" in response.json()
        # Per key: another key still has its own budget.
        assert client_for(key=other).get("/api/v1/stages/").status_code == 200
    api_settings.reload()


def test_user_is_throttled_separately_for_writes(db, marketer, reload_api_settings):
    with _rates(user_write="2/min"):
        api_settings.reload()
        client = client_for(marketer)
        codes = [
            client.post("/api/v1/segments/", {"name": f"s{i}", "filters": {}}, format="json").status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 429]
        assert client.get("/api/v1/segments/").status_code == 200  # reads have their own budget
    api_settings.reload()


@pytest.fixture
def redis_cache(settings):
    """The default cache on Redis (as in production) under a key prefix of its own; its keys are deleted after."""
    import os
    import uuid

    import redis

    from tests.services import redis_url

    url = redis_url()
    prefix = f"crm-test-throttle-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }
    client = redis.Redis.from_url(url)
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_on_redis_a_throttled_request_costs_one_round_trip_and_the_window_expires(
    db, redis_cache, reload_api_settings, monkeypatch
):
    import redis.connection

    from accounts.api.throttling import window_count

    client, prefix = redis_cache
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    assert window_count("probe", ttl=61) == 1  # the first call also opens the connection (its handshake)
    sent.clear()
    assert [window_count("probe", ttl=61) for _ in range(3)] == [2, 3, 4]
    assert len(sent) == 3  # one round trip per hit
    full_key = f"{prefix}:1:probe"
    assert 0 < client.ttl(full_key) <= 61  # the window's counter goes away by itself


def test_on_redis_a_key_is_throttled_with_429_and_retry_after(db, redis_cache, reload_api_settings):
    _, raw = api_key_create(name="shop", role="integration")
    _, other = api_key_create(name="email tool", role="integration")
    with _rates(key_write="2/min"):
        api_settings.reload()
        client = client_for(key=raw)
        codes = [client.post("/api/v1/touchpoints/", [], format="json").status_code for _ in range(3)]
        assert codes[:2] == [400, 400] and codes[2] == 429  # an empty list is a 400, but it counts
        response = client.post("/api/v1/touchpoints/", [], format="json")
        assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 61
        assert client.get("/api/v1/stages/").status_code == 200  # reads have their own budget
        assert client_for(key=other).post("/api/v1/touchpoints/", [], format="json").status_code == 400
    api_settings.reload()
