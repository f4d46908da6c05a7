"""Issue 9, item 5: secrets never reach a log. Runs last in this directory (file order): every
log line of the session (this process's loggers at INFO and above, and the output of every
subprocess server the suite started) is searched for every secret the suite used: the Anthropic
key, deployment keys, session tokens, passwords and the session secret. It also makes its own
traffic with all of them, so that it means something when run alone."""

from __future__ import annotations

from tests.control.conftest import csrf_from, sign_up
from tests.reliability import canaries, logbook


async def test_no_secret_appears_in_any_log_line(make_client, settings) -> None:
    client = make_client(settings)
    tenant = await sign_up(client, "logs@example.com", canaries.PASSWORD)
    canaries.register(tenant.client.cookies["mp_session"].partition(".")[0])
    deployment = await tenant.create_deployment()
    _, key = await tenant.create_key(deployment)
    canaries.register(key)
    stranger = make_client(settings)
    page = await stranger.get("/login")
    for password in (canaries.OTHER_PASSWORD, canaries.PASSWORD):  # a failed and a good log-in
        await stranger.post(
            "/login",
            data={"email": "logs@example.com", "password": password, "csrf_token": csrf_from(page.text)},
        )
    await client.post(
        "/v1/route",
        json={"requested_model": canaries.ANTHROPIC_KEY},
        headers={"authorization": f"Bearer {key}"},
    )
    lines = logbook.lines()
    assert lines, "nothing was logged at all: the log book is not wired"
    text = "\n".join(lines)
    leaked = [label for label, secret in canaries.all_secrets().items() if secret in text]
    assert leaked == []
