"""Who may call, and what they may do: roles, permissions, the caller's identity, the two
bootstrap tokens, their fingerprints, and the start-up check of the credentials.

Shared by the API and the stream gateway. Sessions (what a browser carries after
logging in) live in :mod:`shared.sessions`, named API keys in :mod:`shared.apikeys`.
A caller is an :class:`Identity`: a person or key name, a role, and optionally the
queues it is limited to (issue 22). Every check of what a caller may do is
:meth:`Identity.allows`, so the API, the gateway and the dashboard agree.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from shared.config import ENV_PREFIX, Settings, SettingsError

#: Shortest token accepted at start, in characters: ``secrets.token_urlsafe(32)`` gives 43, and
#: 32 characters of a random alphabet put online guessing out of reach whatever the rate limit.
MIN_TOKEN_CHARS = 32
#: Shortest ``FQ_SECRET``, in bytes: HMAC-SHA256 keys shorter than its 32-byte output weaken it.
MIN_SECRET_BYTES = 32
#: Secrets that were ever published (old defaults, examples): a cookie signed with one is forgeable.
KNOWN_SECRETS = frozenset(
    {
        "dev-insecure-secret",
        "dev-session-secret-not-for-production",
        "changeme",
        "change-me",
        "secret",
    }
)


class Role(enum.StrEnum):
    """What a caller may do (see :data:`GRANTS`)."""

    #: Every call: keys, sessions, retention, schedules, limits, galleries, workers, any queue.
    ADMIN = "admin"
    #: Reads, and job actions and pause/resume on the queues in its scope.
    OPERATOR = "operator"
    #: Reads only.
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    """What one endpoint needs; a role grants a set of them (:data:`GRANTS`)."""

    #: See jobs, queues, workers and events (of the queues in scope).
    READ = "read"
    #: Act on jobs and queues in scope: submit, retry, promote, priority, delete, pause, resume.
    ACT = "act"
    #: Everything else that changes something: keys, sessions, retention, schedules, limits,
    #: galleries, workers, and the audit log.
    ADMIN = "admin"


#: The permissions each role grants.
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.ACT}),
    Role.ADMIN: frozenset(Permission),
}

#: Name the bootstrap tokens act under in the audit (issue 22: they are keys named by their variable).
ADMIN_TOKEN_NAME = f"{ENV_PREFIX}ADMIN_TOKEN"
VIEWER_TOKEN_NAME = f"{ENV_PREFIX}VIEWER_TOKEN"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a caller is: the name the audit records, a role, and its queue scope."""

    #: The person (email) or key name.
    name: str
    role: Role
    #: Queues it may see and act on; None: every queue.
    queues: frozenset[str] | None = None
    #: How it proved itself: ``token`` (bootstrap), ``key``, ``oidc`` or ``proxy``.
    kind: str = "token"
    #: The API key's id (``key`` only): revoking it ends the key's sessions and streams.
    key_id: str = ""

    def sees(self, queue: str) -> bool:
        """Whether the queue is in scope."""
        return self.queues is None or queue in self.queues

    def allows(self, permission: Permission, queue: str | None = None) -> bool:
        """Whether the role grants ``permission`` and, when a queue is named, it is in scope."""
        if permission not in GRANTS[self.role]:
            return False
        return queue is None or self.sees(queue)

    def visible(self, queues: Iterable[str]) -> list[str]:
        """The queues of ``queues`` in scope, in their order."""
        return [queue for queue in queues if self.sees(queue)]

    def who(self, address: str) -> str:
        """What an audited script records: ``name|role|address`` (the prelude's ``acting`` splits
        it; a ``|`` in a name would shift the fields, so it is replaced)."""
        return f"{self.name.replace('|', '/')}|{self.role.value}|{address}"


def configured(settings: Settings) -> bool:
    """Whether any way in exists (a token, single sign-on, an auth proxy); with none, nothing is
    served (never open by accident). Named keys are made by an admin, so one of these comes first."""
    return bool(settings.admin_token or settings.viewer_token or settings.oidc_issuer or settings.auth_proxy)


def check_credentials(settings: Settings) -> None:
    """Refuse to start with credentials that would let someone forge or guess their way in.

    Raised at start by api and stream (issue 16): with a token set, ``FQ_SECRET`` must be
    at least 32 bytes and not a published value, and every token at least 32 characters.
    """
    if not configured(settings):
        return
    for name, token in (("ADMIN_TOKEN", settings.admin_token), ("VIEWER_TOKEN", settings.viewer_token)):
        if token and len(token.strip()) < MIN_TOKEN_CHARS:
            raise SettingsError(f"{ENV_PREFIX}{name}: must be at least {MIN_TOKEN_CHARS} characters")
    if settings.admin_token and settings.admin_token.strip() == settings.viewer_token.strip():
        raise SettingsError(f"{ENV_PREFIX}VIEWER_TOKEN: must differ from {ENV_PREFIX}ADMIN_TOKEN")
    secret = settings.secret
    if not secret:
        raise SettingsError(
            f"{ENV_PREFIX}SECRET: required when a token, SSO or an auth proxy is set (it signs sessions)"
        )
    if secret.strip().lower() in KNOWN_SECRETS:
        raise SettingsError(f"{ENV_PREFIX}SECRET: a published example value; generate a random one")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"{ENV_PREFIX}SECRET: must be at least {MIN_SECRET_BYTES} bytes")


def identity_for_token(settings: Settings, token: str) -> Identity | None:
    """The bootstrap identity a token proves (named by its variable), or None."""
    role = role_for_token(settings, token)
    if role is None:
        return None
    return Identity(ADMIN_TOKEN_NAME if role is Role.ADMIN else VIEWER_TOKEN_NAME, role)


def role_for_token(settings: Settings, token: str) -> Role | None:
    # Compared as bytes: compare_digest refuses non-ASCII str, and a token is any text a caller sends.
    given = token.strip().encode()
    if settings.admin_token and hmac.compare_digest(given, settings.admin_token.strip().encode()):
        return Role.ADMIN
    if settings.viewer_token and hmac.compare_digest(given, settings.viewer_token.strip().encode()):
        return Role.VIEWER
    return None


def fingerprint(settings: Settings, token: str) -> str:
    """A keyed digest of a token, stored with each session it opens: rotating the token (a new
    value at the next start) changes it, which ends every session the old token opened."""
    digest = hmac.new(settings.secret.encode(), b"token:" + token.strip().encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def current_fingerprint(settings: Settings, role: Role) -> str | None:
    """The fingerprint of the token that grants ``role`` now (None: no such token any more)."""
    if role is Role.OPERATOR:
        return None  # no bootstrap token grants it
    token = settings.admin_token if role is Role.ADMIN else settings.viewer_token
    return fingerprint(settings, token) if token else None


def sign(settings: Settings, payload: str) -> str:
    """HMAC-SHA256 of ``payload`` under ``FQ_SECRET``, hex."""
    return hmac.new(settings.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
