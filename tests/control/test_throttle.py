from __future__ import annotations

from tests.control.conftest import log_in, sign_up


async def test_log_in_is_throttled_after_repeated_failures(make_client, settings, clock):
    await sign_up(make_client(settings), "a@example.com")
    client = make_client(settings)
    for _ in range(settings.login_max_failures):
        assert (await log_in(client, "a@example.com", "wrong password")).status_code == 401
    locked = await log_in(client, "a@example.com")  # even the right password
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= settings.login_window_s + 1
    clock.advance(settings.login_window_s + 1)
    assert (await log_in(client, "a@example.com")).status_code == 303


async def test_throttling_holds_across_replicas(make_client, settings):
    await sign_up(make_client(settings), "a@example.com")
    replica_a, replica_b = make_client(settings), make_client(settings)
    for attempt in range(settings.login_max_failures):
        replica = replica_a if attempt % 2 else replica_b
        assert (await log_in(replica, "a@example.com", "wrong password")).status_code == 401
    assert (await log_in(replica_a, "a@example.com")).status_code == 429
    assert (await log_in(replica_b, "a@example.com")).status_code == 429


async def test_unknown_accounts_fail_like_wrong_passwords(make_client, settings):
    client = make_client(settings)
    response = await log_in(client, "nobody@example.com", "whatever it is")
    assert response.status_code == 401
    for _ in range(settings.login_max_failures):
        await log_in(client, "nobody@example.com", "whatever it is")
    assert (await log_in(client, "nobody@example.com", "whatever it is")).status_code == 429


async def test_success_clears_the_failures(make_client, settings):
    await sign_up(make_client(settings), "a@example.com")
    client = make_client(settings)
    for _ in range(settings.login_max_failures - 1):
        await log_in(client, "a@example.com", "wrong password")
    assert (await log_in(client, "a@example.com")).status_code == 303
    for _ in range(settings.login_max_failures - 1):
        await log_in(client, "a@example.com", "wrong password")
    assert (await log_in(client, "a@example.com")).status_code == 303
