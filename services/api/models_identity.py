"""Request and response models of the identity endpoints (issue 22): keys, sessions, sign-on.

Kept beside services/api/models.py so the identity work stays in its own files.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from services.api.models import QUEUE_PATTERN, Int, Strict

#: Most queues one key may be scoped to.
MAX_SCOPE = 64
#: A key's or person's name: printable, no ``|`` (the audit's separator).
NAME_TEXT = r"^[^|\x00-\x1f\x7f]{1,128}$"


class KeyCreate(Strict):
    name: str = Field(pattern=NAME_TEXT, description="Who or what the key is for; the audit names it.")
    role: Literal["admin", "operator", "viewer"] = Field(description="What the key may do.")
    queues: list[Annotated[str, Field(pattern=QUEUE_PATTERN)]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SCOPE,
        description="Queues the key may see and act on (not for admin keys); null: every queue.",
    )
    expires_at: Int | None = Field(
        default=None, ge=0, description="When the key stops working (Unix ms); null: never."
    )


class KeyOut(BaseModel):
    id: str = Field(description="The key's id (also the start of its secret).")
    name: str
    role: str
    queues: list[str] | None = Field(description="Queues in scope; null: every queue.")
    created_ms: int | None = Field(default=None, description="When it was created (null: a bootstrap token).")
    created_by: str = Field(default="", description="Who created it.")
    expires_at: int | None = Field(default=None, description="When it stops working (Unix ms); null: never.")
    revoked_ms: int | None = Field(default=None, description="When it was revoked; null: not revoked.")
    revoked_by: str = ""
    last_used_ms: int | None = Field(default=None, description="Last use (to within a minute); null: never.")
    builtin: bool = Field(default=False, description="A bootstrap token (FQ_ADMIN_TOKEN, FQ_VIEWER_TOKEN).")
    live: bool = Field(description="Whether it works now.")


class KeyCreated(KeyOut):
    secret: str = Field(description="The key's secret: shown this once, stored only as a keyed hash.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class KeyRevoked(BaseModel):
    id: str
    revoked: bool = Field(description="True when revoked by this call, false when it already was.")


class SessionInfo(BaseModel):
    id: str
    name: str
    role: str
    kind: str
    queues: list[str] | None
    created_ms: int
    expires_ms: int
    address: str


class SessionList(BaseModel):
    sessions: list[SessionInfo]


class EndSessionsQuery(Strict):
    person: str | None = Field(
        default=None, pattern=NAME_TEXT, description="End only this person's (or key's) sessions."
    )


class SsoLoginQuery(Strict):
    next: str | None = Field(
        default=None, max_length=512, pattern=r"^/[^/\\].*$|^/$", description="Dashboard path to return to."
    )


class SsoCallbackQuery(BaseModel):
    """What the issuer appends to the redirect (other parameters it adds are ignored). Printable
    ASCII only, and bounded so the whole URL stays within the server's request-line limit."""

    code: str | None = Field(default=None, max_length=2048, pattern=r"^[!-~]*$")
    state: str | None = Field(default=None, max_length=128, pattern=r"^[!-~]*$")
    error: str | None = Field(default=None, max_length=64, pattern=r"^[!-~]*$")
