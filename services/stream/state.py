"""Typed application state of the gateway."""

from __future__ import annotations

from aiohttp import web

from services.stream.clients import Clients
from services.stream.fanout import Fanout
from services.stream.peers import AddressCap
from shared.metrics import StreamMetrics
from shared.registry import AsyncRegistry

CLIENTS = web.AppKey("clients", Clients)
FANOUT = web.AppKey("fanout", Fanout)
#: Stream connections per client address (issue 16).
ADDRESS_CAP = web.AppKey("address_cap", AddressCap)
STREAM_METRICS = web.AppKey("stream_metrics", StreamMetrics)
#: One registry (and one set of loaded scripts) for every client: a registry per
#: connection held ~6 KiB of script objects for the connection's life (issue 9).
STREAM_REGISTRY = web.AppKey("stream_registry", AsyncRegistry)
