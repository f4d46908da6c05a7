"""Small things a new user tripped over (issue 16, item 9): the site icon, empty and tiny money
on charts, and the deleted-account notice (tests/control/console/test_form_errors.py)."""

from __future__ import annotations

from modelpilot.control.http.charts import Series, bar_chart, format_usd, line_chart


async def test_every_page_has_an_icon_and_the_icon_is_served(client):
    page = await client.get("/login")
    assert '<link rel="icon" href="/favicon.svg"' in page.text
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = await client.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg")


def test_a_tiny_loss_reads_as_a_bound_not_a_minus_sign_before_a_bound() -> None:
    assert format_usd(-40) == ">-$0.0001"
    assert format_usd(40) == "<$0.0001"


def test_an_empty_chart_has_a_readable_axis() -> None:
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    for chart in (
        line_chart("c", "Cost", "no usage", days, [Series("actual", [0, 0, 0], "actual")]),
        bar_chart("b", "Savings", "no usage", days, [0, 0, 0]),
    ):
        assert "&lt;$0.0001" not in chart and "<$0.0001" not in chart
        assert "$0.01" in chart
