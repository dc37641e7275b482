"""Routes declared once with their models; the OpenAPI 3.1 document is generated from them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.api.models import QUEUE_PATTERN, ErrorResponse
from shared.auth import Permission
from shared.images import SHA256_PATTERN
from shared.names import NAME_PATTERN

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Every route the API serves, for the OpenAPI document.
ROUTES = web.AppKey("routes", list)


@dataclass(frozen=True, slots=True)
class Policy:
    """What a route needs: a permission, and whether queue-scoped callers may use it."""

    permission: Permission
    #: The handler checks or filters queues itself (``require(..., queue=)``), or the route
    #: reveals no queue's data: queue-scoped callers may use it. False: they get 403.
    scoped: bool


#: ``(method, path) -> Policy`` of every route, read by the auth middleware (services/api/auth.py).
ROUTE_POLICY = web.AppKey("route_policy", dict)

_ERROR_TEXT = {
    400: "Malformed request.",
    401: "Missing or invalid credentials.",
    403: "The role may not do this.",
    404: "No such resource.",
    409: "The resource is in a state that forbids the action.",
    413: "Body too large.",
    415: "Unsupported content type.",
    422: "The request does not validate.",
    429: "Too many failed credentials from this address; see Retry-After.",
    503: "Redis is unreachable.",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    #: The same request as a multipart form (file uploads).
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = field(default=())
    #: Open to anyone (no credentials needed).
    public: bool = False
    #: What the caller's role must grant; None: READ for GET, ADMIN for anything else (issue 22:
    #: a new mutation is admin-only until it says otherwise).
    permission: Permission | None = None
    #: Safe for queue-scoped callers: the handler calls ``require(request, ..., queue=)`` or
    #: filters with ``caller(request).visible(...)``, or the route shows no queue's data.
    scoped: bool = False

    @property
    def policy(self) -> Policy:
        default = Permission.READ if self.method in ("GET", "HEAD") else Permission.ADMIN
        return Policy(self.permission or default, self.scoped)


#: Patterns path parameters must match; anything else is refused (400 or 404) before any lookup.
PATH_PATTERNS = {
    "queue": QUEUE_PATTERN,
    "gallery": NAME_PATTERN,
    "schedule": NAME_PATTERN,
    "sha256": SHA256_PATTERN,
}


def add(app: web.Application, *routes: Route) -> None:
    app.setdefault(ROUTES, [])
    app.setdefault(ROUTE_POLICY, {})
    for r in routes:
        app.router.add_route(r.method, r.path, r.handler)
        app[ROUTES].append(r)
        app[ROUTE_POLICY][(r.method, r.path)] = r.policy


def document(routes: list[Route], title: str = "facequeue admin API", version: str = "1") -> dict[str, Any]:
    models = {m for r in routes for m in (r.body, r.form, r.query, r.response) if m is not None} | {
        ErrorResponse
    }
    _, top = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path.lower()).strip('_')}",
            "parameters": _parameters(r),
            "responses": {str(r.status): _content(r.response, "Success.")},
        }
        for status in sorted({*r.errors, 503, *(() if r.public else (401, 429))}):
            op["responses"][str(status)] = _content(ErrorResponse, _ERROR_TEXT.get(status, "Error."))
        if r.public:
            op["security"] = []
        else:
            op["x-permission"] = r.policy.permission.value
            op["x-queue-scoped"] = r.policy.scoped
        if r.body is not None:
            op["requestBody"] = {"required": True, **_content(r.body, "")}
            op["requestBody"].pop("description")
        if r.form is not None:
            form_ref = {"$ref": f"#/components/schemas/{r.form.__name__}"}
            op["requestBody"]["content"]["multipart/form-data"] = {"schema": form_ref}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "fq_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }


def _content(model: type[BaseModel] | None, description: str) -> dict[str, Any]:
    if model is None:
        return {"description": description}
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _parameters(r: Route) -> list[dict[str, Any]]:
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "minLength": 1,
                **({"pattern": PATH_PATTERNS[name]} if name in PATH_PATTERNS else {}),
            },
        }
        for name in re.findall(r"{(\w+)}", r.path)
    ]
    if r.query is not None:
        schema = r.query.model_json_schema(ref_template="#/components/schemas/{model}")
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[ROUTES]))
