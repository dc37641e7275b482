"""Typed application state of the gateway."""

from __future__ import annotations

from aiohttp import web

from services.stream.clients import Clients
from services.stream.fanout import Fanout
from services.stream.peers import AddressCap
from services.stream.revocation import CredentialWatch
from shared.auth import Identity
from shared.metrics import StreamMetrics
from shared.ratelimit import FailureLimiter
from shared.registry import AsyncRegistry
from shared.sessions import Session, SessionStore

CLIENTS = web.AppKey("clients", Clients)
FANOUT = web.AppKey("fanout", Fanout)
#: Stream connections per client address (issue 16).
ADDRESS_CAP = web.AppKey("address_cap", AddressCap)
STREAM_METRICS = web.AppKey("stream_metrics", StreamMetrics)
#: One registry (and one set of loaded scripts) for every client: a registry per
#: connection held ~6 KiB of script objects for the connection's life (issue 9).
STREAM_REGISTRY = web.AppKey("stream_registry", AsyncRegistry)
#: The dashboard sessions the API opens, checked on every connection.
STREAM_SESSIONS = web.AppKey("stream_sessions", SessionStore)
#: Counts wrong credentials per client address and token prefix (the same counters as the API's).
STREAM_LIMITER = web.AppKey("stream_limiter", FailureLimiter)
#: The sessions and keys behind open connections, re-checked so that ending a session or revoking
#: a key closes its streams.
SESSION_WATCH = web.AppKey("session_watch", CredentialWatch)
#: The session a cookie-authenticated request proved (absent for bearer tokens).
REQUEST_SESSION = web.RequestKey("request_session", Session)
#: Who the request proved to be: its role and queue scope decide what it is sent (issue 22).
REQUEST_IDENTITY = web.RequestKey("request_identity", Identity)
