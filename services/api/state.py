"""Typed application state of the API."""

from __future__ import annotations

from aiohttp import web

from shared.registry import AsyncRegistry

#: The registry every handler uses (shares the app's Redis client).
REGISTRY = web.AppKey("registry", AsyncRegistry)
