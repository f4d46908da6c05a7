"""Stage 6, meter: a finished request's record as a charge, committed where it must go.

:class:`Meter` turns each :class:`~modelpilot.proxy.recording.RequestRecord` into a
:class:`~modelpilot.proxy.accounting.Charge` and commits it to the meter spool (synchronously:
the relay calls this before the caller's last byte, see ``pipeline/relay.py``), with the metadata
log record when logs are on, and hands both to the OTLP exporter when there is one. Model ids
outside the catalog become ``unknown`` first (:func:`fold_charge`): a model name the caller made
up never reaches the spool or the control plane (docs/privacy.md). Metering never fails a request:
its errors are counted and logged.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from datetime import UTC, datetime

from modelpilot.proxy.accounting import Charge, charge_request, metadata_log_entry
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.otlp import OtlpExporter
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.spool import Spool
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import UNKNOWN_MODEL, LogRecord

log = logging.getLogger("modelpilot.proxy")


class Meter:
    """Meters records into ``spool`` (if any), metadata logs (while ``metadata_logs`` and a spool),
    ``otlp`` (if any) and ``metrics``. ``spool``, ``otlp`` and ``metadata_logs`` may change at run
    time (the app drops them at shutdown; the deployment's setting switches logs).

    >>> meter = Meter(catalog, metrics, spool=spool, metadata_logs=False)  # doctest: +SKIP
    >>> charge = meter.meter(record)  # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: Catalog,
        metrics: ProxyMetrics,
        *,
        spool: Spool | None = None,
        otlp: OtlpExporter | None = None,
        metadata_logs: bool = False,
    ) -> None:
        self._catalog = catalog
        self._metrics = metrics
        self.spool = spool
        self.otlp = otlp
        self.metadata_logs = metadata_logs

    def meter(self, record: RequestRecord) -> Charge | None:
        """Commit ``record``'s charge (and log record); the charge, or None if there is none."""
        charge = None
        metrics = self._metrics
        try:
            now = datetime.now(UTC)
            charge = fold_charge(charge_request(record, catalog=self._catalog, now=now), self._catalog)
            spool = self.spool
            if charge is not None and spool is not None and not spool.add(charge):
                metrics.spool_refused.inc()
            logs = self.metadata_logs and spool is not None
            if logs or self.otlp is not None:
                entry = fold_log_entry(
                    metadata_log_entry(record, charge, catalog=self._catalog, now=now), self._catalog
                )
                if entry is not None:
                    if self.otlp is not None:
                        # The customer's own collector (proxy/otlp.py): queued, exported off-loop.
                        self.otlp.record(entry, charge)
                    if logs and spool is not None and not spool.add_log(entry):
                        metrics.spool_refused_logs.inc()
        except sqlite3.Error:
            log.exception("could not write a request to the meter spool")
            metrics.spool_errors.inc()
        except Exception:
            # The answer is already sent: a metering bug must not fail the request; make it loud.
            log.exception("metering failed for %s %s", record.method, record.path)
        metrics.observe(record, charge)
        return charge


def _folded(model_id: str, catalog: Catalog) -> str:
    return model_id if model_id in catalog else UNKNOWN_MODEL


def fold_charge(charge: Charge | None, catalog: Catalog) -> Charge | None:
    """``charge`` with any model id outside the catalog replaced by ``unknown``: a model name the
    caller made up never reaches the spool or the control plane (docs/privacy.md)."""
    if charge is None:
        return None
    requested, served = _folded(charge.requested_model, catalog), _folded(charge.served_model, catalog)
    if (requested, served) == (charge.requested_model, charge.served_model):
        return charge
    return dataclasses.replace(charge, requested_model=requested, served_model=served)


def fold_log_entry(entry: LogRecord | None, catalog: Catalog) -> LogRecord | None:
    """:func:`fold_charge` for a metadata log record (the spool and the OTLP exporter alike)."""
    if entry is None:
        return None
    requested, served = _folded(entry.requested_model, catalog), _folded(entry.served_model, catalog)
    if (requested, served) == (entry.requested_model, entry.served_model):
        return entry
    return entry.model_copy(update={"requested_model": requested, "served_model": served})


__all__ = ["Meter", "fold_charge", "fold_log_entry"]
