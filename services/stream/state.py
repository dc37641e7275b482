"""Typed application state of the gateway."""

from __future__ import annotations

from aiohttp import web

from services.stream.clients import Clients
from services.stream.fanout import Fanout
from shared.metrics import StreamMetrics

CLIENTS = web.AppKey("clients", Clients)
FANOUT = web.AppKey("fanout", Fanout)
STREAM_METRICS = web.AppKey("stream_metrics", StreamMetrics)
