"""Placeholder router, filled in by the work in progress."""

from __future__ import annotations

from fastapi import APIRouter


def billing_router() -> APIRouter:
    return APIRouter()
