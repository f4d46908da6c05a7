"""The console and its JSON API, one router per resource. Each module serves a resource's HTML
pages (under ``/console``, ``/account``) and their JSON twins (under ``/api``), with the same
domain calls behind both; CSV exports are in :mod:`modelpilot.control.http.exports`."""

from __future__ import annotations

from fastapi import APIRouter

from modelpilot.control.http.resources import (
    account,
    admin,
    billing,
    deployments,
    keys,
    logs,
    performance,
    settings,
    usage,
)


def resource_routers() -> list[APIRouter]:
    """Every resource's router (none of their paths overlap, so the order is free)."""
    return [
        account.router(),
        admin.router(),
        billing.router(),
        deployments.router(),
        keys.router(),
        logs.router(),
        performance.router(),
        settings.router(),
        usage.router(),
    ]
