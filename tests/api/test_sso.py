"""OpenID Connect sign-on against a real provider process, and the trusted auth-proxy mode
(issue 22). The browser's part is played by an HTTP client here; tests/api/dashboard/test_identity.py
drives the same flow in Chromium. The provider checks PKCE (tests/oidc_pkce.py), so a sign-in that
succeeds here sent the right code_verifier."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from tests.api.conftest import ADMIN
from tests.oidc import CLIENT_ID, Provider, oidc_provider  # noqa: F401 (fixture)


@pytest.fixture
async def sso_api(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    oidc_provider: Provider,  # noqa: F811
) -> TestClient[Any, Any]:
    configured = dataclasses.replace(
        settings,
        oidc_issuer=oidc_provider.url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="a-client-secret-of-the-tests",
        sso_allowed_domains=("example.com",),
        sso_group_roles=("fq-admins:admin", "fq-ops:operator", "fq-readers:viewer"),
        sso_group_queues=("team-diag:" + Q,),
    )
    client: TestClient[Any, Any] = await aiohttp_client(build_app(configured))
    return client


async def sign_in(api: TestClient[Any, Any], provider: Provider, sub: str) -> aiohttp.ClientResponse:
    """Start at the API, pass the provider's form as ``sub``, come back: the callback's answer."""
    start = await api.get("/api/v1/sso/login", params={"next": "/#jobs"}, allow_redirects=False)
    assert start.status == 302, await start.text()
    authorize = start.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(provider.url) and query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID] and query["nonce"] and query["state"]
    async with aiohttp.ClientSession() as browser_at_provider:
        form = await browser_at_provider.post(authorize, data={"sub": sub}, allow_redirects=False)
        assert form.status == 302, await form.text()
        back = form.headers["Location"]
    assert back.startswith(str(api.make_url("/api/v1/sso/callback")))
    return await api.get(back.replace(str(api.make_url("")), ""), allow_redirects=False)


async def test_a_person_signs_in_with_their_groups_role_and_queues(
    sso_api: TestClient[Any, Any],
    oidc_provider: Provider,  # noqa: F811
) -> None:
    # Given Ada, an operator of the diagnostics team at the provider
    oidc_provider.set_person("ada", email="ada@example.com", groups=["fq-ops", "team-diag"])
    # When she signs in
    back = await sign_in(sso_api, oidc_provider, "ada")
    # Then she lands where she was going, with a session of her own
    assert back.status == 302 and back.headers["Location"] == "/#jobs"
    me = await (await sso_api.get("/api/v1/session")).json()
    assert (me["name"], me["role"], me["queues"], me["kind"]) == ("ada@example.com", "operator", [Q], "oidc")
    # And what she may do follows: act on her queue, not administer
    csrf = {"X-Facequeue-CSRF": "1"}
    assert (await sso_api.post(f"/api/v1/queues/{Q}/pause", headers=csrf)).status == 200
    assert (await sso_api.get("/api/v1/keys")).status == 403
    audit = await (await sso_api.get("/api/v1/audit", params={"action": "pause"}, headers=ADMIN)).json()
    assert [(e["who"], e["role"]) for e in audit["entries"]] == [("ada@example.com", "operator")]
    # When an admin ends Ada's sessions, Then her cookie is dead; logging out works after
    ended = await sso_api.delete("/api/v1/sessions", params={"person": "ada@example.com"}, headers=ADMIN)
    assert (await ended.json())["ended"] == 1
    assert (await sso_api.get("/api/v1/queues")).status == 401


async def test_an_admin_group_gives_every_queue_and_logout_ends_the_session(
    sso_api: TestClient[Any, Any],
    oidc_provider: Provider,  # noqa: F811
) -> None:
    oidc_provider.set_person("grace", email="grace@example.com", groups=["fq-admins", "team-diag"])
    assert (await sign_in(sso_api, oidc_provider, "grace")).status == 302
    me = await (await sso_api.get("/api/v1/session")).json()
    assert (me["role"], me["queues"]) == ("admin", None)
    assert (await sso_api.get("/api/v1/keys")).status == 200
    await sso_api.delete("/api/v1/session")
    assert (await sso_api.get("/api/v1/keys")).status == 401


@pytest.mark.parametrize(
    ("email", "groups"),
    [
        ("eve@elsewhere.org", ["fq-admins"]),
        ("bob@example.com", ["unmapped"]),
        ("", ["fq-admins"]),
        # a groups claim that is an object or a number is no groups (it was a 500)
        ("bob@example.com", {"fq-admins": True}),
        ("bob@example.com", 7),
    ],
)
async def test_people_outside_the_domains_or_groups_are_refused(
    sso_api: TestClient[Any, Any],
    oidc_provider: Provider,  # noqa: F811
    email: str,
    groups: object,
) -> None:
    oidc_provider.set_person("someone", email=email, groups=groups)
    back = await sign_in(sso_api, oidc_provider, "someone")
    assert back.status == 403 and (await back.json())["error"]["code"] == "sso_forbidden"
    assert (await (await sso_api.get("/api/v1/session")).json())["role"] is None


async def test_the_token_request_proves_pkce_and_a_wrong_verifier_is_refused(
    sso_api: TestClient[Any, Any],
    oidc_provider: Provider,  # noqa: F811
) -> None:
    # Given a provider that refuses a token request whose code_verifier does not match
    oidc_provider.set_person("ada", email="ada@example.com", groups=["fq-readers"])
    refused_before = oidc_provider.pkce_refusals()
    # When a person signs in, Then the API's token request passed the check
    assert (await sign_in(sso_api, oidc_provider, "ada")).status == 302
    assert oidc_provider.pkce_refusals() == refused_before
    # And the check is real: the code of a new login, redeemed with a wrong verifier, is refused
    start = await sso_api.get("/api/v1/sso/login", allow_redirects=False)
    async with aiohttp.ClientSession() as at_provider:
        form = await at_provider.post(start.headers["Location"], data={"sub": "ada"}, allow_redirects=False)
        back = urlsplit(form.headers["Location"])
        code = parse_qs(back.query)["code"][0]
        token = await at_provider.post(
            f"{oidc_provider.url}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{back.scheme}://{back.netloc}{back.path}",
                "client_id": CLIENT_ID,
                "client_secret": "a-client-secret-of-the-tests",
                "code_verifier": "not-the-verifier-" + "x" * 43,
            },
        )
        assert token.status == 400 and (await token.json())["error"] == "invalid_grant"
    assert oidc_provider.pkce_refusals() == refused_before + 1


async def test_a_callback_is_used_once_and_only_in_the_browser_that_started_it(
    sso_api: TestClient[Any, Any],
    oidc_provider: Provider,  # noqa: F811
) -> None:
    oidc_provider.set_person("ada", email="ada@example.com", groups=["fq-readers"])
    start = await sso_api.get("/api/v1/sso/login", allow_redirects=False)
    async with aiohttp.ClientSession() as at_provider:
        form = await at_provider.post(start.headers["Location"], data={"sub": "ada"}, allow_redirects=False)
        back = form.headers["Location"].replace(str(sso_api.make_url("")), "")
    # Another browser (no state cookie) is refused
    async with aiohttp.ClientSession() as other:
        refused = await other.get(str(sso_api.make_url(back)), allow_redirects=False)
        assert refused.status == 400
    # The right browser gets in once; replaying the callback is refused
    assert (await sso_api.get(back, allow_redirects=False)).status == 302
    assert (await sso_api.get(back, allow_redirects=False)).status == 400


async def test_without_an_issuer_the_sign_on_routes_are_404(api: TestClient[Any, Any]) -> None:
    assert (await api.get("/api/v1/sso/login", allow_redirects=False)).status == 404


async def test_an_auth_proxy_is_believed_only_from_a_trusted_address(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    people = {"X-Forwarded-Email": "lin@example.com", "X-Forwarded-Groups": "fq-ops,team-diag"}
    proxied = dataclasses.replace(
        settings,
        auth_proxy=True,
        sso_group_roles=("fq-ops:operator",),
        sso_group_queues=("team-diag:" + Q,),
    )
    # Behind a trusted proxy (the test client's loopback), the proxy's person is the caller
    trusted = dataclasses.replace(proxied, trusted_proxies=("127.0.0.1/32",))
    api: TestClient[Any, Any] = await aiohttp_client(build_app(trusted))
    me = await (await api.get("/api/v1/session", headers=people)).json()
    assert (me["name"], me["role"], me["queues"], me["via"]) == ("lin@example.com", "operator", [Q], "proxy")
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers=people)).status == 200
    # From an address that is not a trusted proxy, the same headers prove nothing
    untrusted = dataclasses.replace(proxied, trusted_proxies=("10.0.0.0/8",))
    other: TestClient[Any, Any] = await aiohttp_client(build_app(untrusted))
    assert (await other.get("/api/v1/queues", headers=people)).status == 401
    assert (await (await other.get("/api/v1/session", headers=people)).json())["role"] is None
