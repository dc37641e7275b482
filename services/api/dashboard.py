"""The live dashboard: its page at ``/``, its static modules and where it finds the stream gateway.

The page is plain files (no build step) under ``static/``. It learns the
gateway's URL from ``/config.json`` rather than guessing it in the browser, so
a deployment behind an ingress sets ``FQ_STREAM_PUBLIC_URL`` once, and the page's
Content-Security-Policy names exactly that origin.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from yarl import URL

from shared.events import Topic, frame_types
from shared.http import SETTINGS

#: Folder of the page's HTML, CSS and JavaScript modules (package data).
STATIC_DIR = Path(__file__).parent / "static"
#: URL prefix of the static files.
STATIC_PREFIX = "/static/"


def stream_url(request: web.Request) -> str:
    """The gateway as this browser reaches it: the configured public URL (a path such as ``/``
    when a proxy serves ``/stream`` on the page's own origin), else this host on its port."""
    settings = request.app[SETTINGS]
    if settings.stream_public_url:
        return settings.stream_public_url.rstrip("/") or "/"
    host = request.url.host or "127.0.0.1"
    return str(URL.build(scheme=request.scheme, host=host, port=settings.stream_port))


def _origin(url: str) -> str:
    parsed = URL(url)
    return str(parsed.origin()) if parsed.is_absolute() else ""


def security_headers(request: web.Request) -> dict[str, str]:
    """Scripts and styles from this origin only; the page may connect here and to the gateway."""
    connect = " ".join(filter(None, ["'self'", _origin(stream_url(request))]))
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


async def index(request: web.Request) -> web.StreamResponse:
    """The single page; every view is drawn by its modules."""
    return web.FileResponse(STATIC_DIR / "index.html", headers=security_headers(request))


async def config(request: web.Request) -> web.Response:
    """What the page needs before it can connect: the gateway URL, the origin it accepts, and the
    event contract's frame types and topics (shared/events.py), so the page copies none of them."""
    settings = request.app[SETTINGS]
    events = {"types": frame_types(), "topics": list(Topic)}
    return web.json_response(
        {
            "stream_url": stream_url(request),
            "dashboard_origin": settings.dashboard_origin,
            "sso": bool(settings.oidc_issuer),
            "events": events,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    # Modules are not fingerprinted (no build step): make browsers revalidate, so an
    # upgrade never runs new HTML against old JavaScript.
    if request.path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"


def add(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/config.json", config)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR)
    app.on_response_prepare.append(_revalidate_static)
