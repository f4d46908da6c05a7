"""The Prometheus text format, written by hand."""

from __future__ import annotations

import pytest

from modelpilot.proxy.metrics import Counter, Histogram, ProxyMetrics
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.usage import Usage
from tests.proxy.metering.records import record


def test_counters_render_with_escaped_labels_and_refuse_to_go_down():
    counter = Counter("x_total", "Things.", ("kind",))
    counter.inc('a"b\\c\nd', amount=2)
    assert (
        counter.render()
        == '# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind="a\\"b\\\\c\\nd"} 2\n'
    )
    with pytest.raises(ValueError):
        counter.inc("a", amount=-1)


def test_histograms_are_cumulative_with_sum_and_count():
    histogram = Histogram("d_seconds", "Durations.", (0.1, 1), ("stream",))
    for value in (0.05, 0.5, 0.7, 3):
        histogram.observe(value, "true")
    assert histogram.samples() == [
        'd_seconds_bucket{stream="true",le="0.1"} 1',
        'd_seconds_bucket{stream="true",le="1"} 3',
        'd_seconds_bucket{stream="true",le="+Inf"} 4',
        'd_seconds_sum{stream="true"} 4.25',
        'd_seconds_count{stream="true"} 4',
    ]


def test_savings_are_a_gauge_because_escalations_make_them_negative():
    from modelpilot.proxy.accounting import charge_request
    from modelpilot.proxy.recording import Attempt
    from tests.proxy.metering.records import NOW

    catalog = load_catalog()
    metrics = ProxyMetrics(catalog)
    escalated = record(
        Usage(input_tokens=1000),
        escalated=True,
        routed=True,
        attempts=(Attempt("claude-haiku-4-5", Usage(input_tokens=1000)),),
    )
    metrics.observe(escalated, charge_request(escalated, catalog=catalog, now=NOW))
    text = metrics.render().decode()
    assert "# TYPE modelpilot_savings_micros gauge\nmodelpilot_savings_micros -1000\n" in text
    assert "modelpilot_escalated_requests_total 1" in text and "modelpilot_routed_requests_total 1" in text


def test_upstream_errors_and_fail_open_reasons_have_closed_label_sets():
    metrics = ProxyMetrics(load_catalog())
    metrics.observe(record(None, status=529, error_type="overloaded_error"), None)
    metrics.observe(record(None, status=200, is_stream=True, error_type="api_error"), None)
    metrics.observe(record(None, status=400, error_type="invalid_request_error"), None)
    metrics.observe(record(None, status=529, fail_open_reason="timeout"), None)
    metrics.record_fail_open("something new")
    text = metrics.render().decode()
    assert 'modelpilot_upstream_errors_total{status_class="5xx"} 2' in text
    assert 'modelpilot_upstream_errors_total{status_class="2xx"} 1' in text
    # a 400 is counted as a request, not as an upstream error
    assert 'modelpilot_requests_total{status_class="4xx",stream="false"} 1' in text
    assert 'modelpilot_upstream_errors_total{status_class="4xx"}' not in text
    assert 'modelpilot_fail_open_total{reason="other"} 1' in text
    assert 'modelpilot_fail_open_total{reason="timeout"} 1' in text
