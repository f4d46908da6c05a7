"""Putting a resource's page routes and JSON routes into the one router it hands the app."""

from __future__ import annotations

from fastapi import APIRouter


def combined(*routers: APIRouter) -> APIRouter:
    """One router holding ``routers``' routes, in order (each keeps its own prefix, tags and
    whether it is in the OpenAPI document)."""
    whole = APIRouter()
    for part in routers:
        whole.include_router(part)
    return whole
