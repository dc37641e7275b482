"""``python -m tests.oidc_pkce --port N``: oidc-provider-mock with the PKCE check it lacks.

oidc-provider-mock 0.3.4 accepts a token request whatever its ``code_verifier`` (or none), so a
sign-on test through it alone would pass with PKCE broken. This process runs the same provider
app behind a WSGI middleware that does what RFC 7636 asks of a server: it remembers each code's
``code_challenge`` from the authorization request that issued it, and refuses (400
``invalid_grant``) a token request whose ``code_verifier`` is missing or does not hash to it
(``BASE64URL(SHA256(verifier)) == challenge``, method S256 only), and any code issued without a
challenge. Refusals are counted at ``GET /pkce/refusals`` so tests can see them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.serving import run_simple

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of a verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class PkceCheck:
    """WSGI middleware: codes remembered with their challenge, token requests checked against it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}
        self.refusals = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/pkce/refusals":
            return self._json(start_response, "200 OK", {"refusals": self.refusals})
        if path == "/oauth2/token" and environ.get("REQUEST_METHOD") == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode(errors="replace"))
            if form.get("grant_type") == ["authorization_code"]:
                refusal = self._refusal(form)
                if refusal:
                    with self.lock:
                        self.refusals += 1
                    error = {"error": "invalid_grant", "error_description": refusal}
                    return self._json(start_response, "400 Bad Request", error)
        if path == "/oauth2/authorize":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            challenge = (query.get("code_challenge") or [""])[0]
            method = (query.get("code_challenge_method") or ["plain"])[0]

            def remembering(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                location = dict((k.lower(), v) for k, v in headers).get("location", "")
                for code in parse_qs(urlsplit(location).query).get("code", []):
                    with self.lock:
                        self.challenges[code] = (challenge, method)
                return start_response(status, headers, *rest)

            return self.app(environ, remembering)
        return self.app(environ, start_response)

    def _refusal(self, form: dict[str, list[str]]) -> str:
        code = (form.get("code") or [""])[0]
        with self.lock:
            challenge, method = self.challenges.pop(code, ("", ""))
        if not challenge:
            return "the code was issued without a PKCE code_challenge"
        if method != "S256":
            return f"code_challenge_method {method!r} is not S256"
        verifier = (form.get("code_verifier") or [""])[0]
        if not verifier:
            return "code_verifier missing"
        if not hmac.compare_digest(s256(verifier), challenge):
            return "code_verifier does not match the code_challenge"
        return ""

    @staticmethod
    def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    import oidc_provider_mock  # type: ignore[import-untyped]

    provider = oidc_provider_mock.app(require_nonce=True)
    provider.wsgi_app = PkceCheck(provider.wsgi_app)
    run_simple("127.0.0.1", args.port, provider, threaded=True)


if __name__ == "__main__":
    main()
