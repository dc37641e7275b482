"""``/api/v1/keys``: named API keys (admin only). The secret is in the create answer once;
listing shows everything else, the bootstrap tokens included (as keys named by their variable)."""

from __future__ import annotations

import time

from aiohttp import web

from services.api import validation
from services.api.auth import acting
from services.api.errors import ApiError
from services.api.models_identity import KeyCreate, KeyCreated, KeyList, KeyOut, KeyRevoked
from services.api.openapi import Route
from services.api.state import SESSIONS
from shared.apikeys import ApiKey
from shared.auth import ADMIN_TOKEN_NAME, VIEWER_TOKEN_NAME, Permission, Role
from shared.http import SETTINGS


def _out(key: ApiKey, now_ms: int) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "queues": sorted(key.queues) if key.queues is not None else None,
        "created_ms": key.created_ms,
        "created_by": key.created_by,
        "expires_at": key.expires_ms or None,
        "revoked_ms": key.revoked_ms or None,
        "revoked_by": key.revoked_by,
        "last_used_ms": key.last_used_ms or None,
        "live": key.live(now_ms),
    }


def _builtin(request: web.Request) -> list[KeyOut]:
    settings = request.app[SETTINGS]
    found = [
        (ADMIN_TOKEN_NAME, Role.ADMIN, settings.admin_token),
        (VIEWER_TOKEN_NAME, Role.VIEWER, settings.viewer_token),
    ]
    return [
        KeyOut(id=name, name=name, role=role.value, queues=None, builtin=True, live=True)
        for name, role, token in found
        if token
    ]


async def create_key(request: web.Request) -> web.Response:
    """201 with the new key and its secret (the only time the secret is shown)."""
    body = await validation.body(request, KeyCreate)
    now_ms = int(time.time() * 1000)
    if body.role == "admin" and body.queues is not None:
        raise ApiError(422, "validation_error", "queues: an admin key acts on every queue; scope an operator")
    if body.expires_at is not None and body.expires_at <= now_ms:
        raise ApiError(422, "validation_error", "expires_at: must be in the future")
    key, secret = await request.app[SESSIONS].keys.create(
        body.name, Role(body.role), body.queues, body.expires_at or 0, acting(request)
    )
    out = KeyCreated.model_validate({**_out(key, now_ms), "secret": secret})
    return web.json_response(out.model_dump(), status=201)


async def list_keys(request: web.Request) -> web.Response:
    now_ms = int(time.time() * 1000)
    stored = [KeyOut.model_validate(_out(k, now_ms)) for k in await request.app[SESSIONS].keys.list()]
    return web.json_response(KeyList(keys=[*_builtin(request), *stored]).model_dump())


async def revoke_key(request: web.Request) -> web.Response:
    """Revoke at once: API calls with it fail from now on, its sessions and streams end."""
    key_id = request.match_info["key_id"]
    if key_id in (ADMIN_TOKEN_NAME, VIEWER_TOKEN_NAME):
        raise ApiError(409, "builtin_key", f"{key_id} is a bootstrap token: change the variable to rotate it")
    if not key_id.isascii() or not key_id.isalnum() or len(key_id) != 16:
        raise ApiError(404, "key_not_found", "no API key with this id")
    revoked = await request.app[SESSIONS].keys.revoke(key_id, acting(request))
    return web.json_response(KeyRevoked(id=key_id, revoked=revoked).model_dump())


ROUTES = [
    Route(
        "POST",
        "/api/v1/keys",
        create_key,
        "Create a named API key (admin); the answer carries its secret, once",
        body=KeyCreate,
        response=KeyCreated,
        status=201,
        errors=(400, 403, 415, 422),
    ),
    Route(
        "GET",
        "/api/v1/keys",
        list_keys,
        "Every API key, without secrets (admin)",
        response=KeyList,
        errors=(403,),
        permission=Permission.ADMIN,
    ),
    Route(
        "DELETE",
        "/api/v1/keys/{key_id}",
        revoke_key,
        "Revoke an API key (admin): it stops working at once, its streams close",
        response=KeyRevoked,
        errors=(403, 404, 409),
    ),
]
