"""The HTML forms are not in the OpenAPI document, so fuzz them here: whatever is posted, the
answer is never a server error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from modelpilot.control.app import create_app
from tests.control.conftest import csrf_from

form_text = st.text(max_size=300) | st.sampled_from(["a@example.com", "x" * 400, "\x00", "a@b.c"])


def test_forms_never_fail_with_a_server_error(engine, settings, clock):
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = csrf_from(client.get("/signup").text)

        @settings_for_forms
        @given(
            path=st.sampled_from(["/signup", "/login"]),
            email=form_text,
            password=form_text,
            valid=st.booleans(),
        )
        def post(path, email, password, valid):
            data = {"email": email, "password": password, "csrf_token": token if valid else "x"}
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code < 500
            client.cookies.delete("mp_session")

        post()


settings_for_forms = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
