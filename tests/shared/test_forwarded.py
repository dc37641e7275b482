"""The client address and scheme through trusted proxies: a table, no server."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from shared.forwarded import FORWARDED, X_FORWARDED, TrustedProxies

PROXY_NETS = ("10.0.0.0/8", "127.0.0.1/32", "fd00::/8")

# (trusted, header mode, peer, headers, expected address, expected tls)
CASES = [
    # No proxy trusted: the peer is the client, whatever it claims.
    ((), X_FORWARDED, "198.51.100.7", [("X-Forwarded-For", "1.2.3.4")], "198.51.100.7", False),
    ((), X_FORWARDED, "198.51.100.7", [("X-Forwarded-Proto", "https")], "198.51.100.7", False),
    # An untrusted peer's headers are ignored even when proxies are configured.
    (PROXY_NETS, X_FORWARDED, "198.51.100.7", [("X-Forwarded-For", "1.2.3.4")], "198.51.100.7", False),
    # A trusted proxy: the rightmost hop it did not vouch for; what the client prepended is ignored.
    (
        PROXY_NETS,
        X_FORWARDED,
        "10.0.0.2",
        [("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
        "203.0.113.9",
        False,
    ),
    # Chains of trusted proxies are walked, over several header lines too.
    (
        PROXY_NETS,
        X_FORWARDED,
        "127.0.0.1",
        [("X-Forwarded-For", "6.6.6.6, 203.0.113.9"), ("X-Forwarded-For", "10.1.2.3")],
        "203.0.113.9",
        False,
    ),
    # Every hop trusted: the leftmost one.
    (PROXY_NETS, X_FORWARDED, "127.0.0.1", [("X-Forwarded-For", "10.9.9.9, 10.1.1.1")], "10.9.9.9", False),
    # No header from a trusted proxy: the proxy itself.
    (PROXY_NETS, X_FORWARDED, "10.0.0.2", [], "10.0.0.2", False),
    # Junk where an address should be: stop at the last hop a trusted proxy wrote.
    (PROXY_NETS, X_FORWARDED, "10.0.0.2", [("X-Forwarded-For", "203.0.113.9, junk")], "10.0.0.2", False),
    # Ports and IPv4-mapped IPv6 are normalised.
    (
        PROXY_NETS,
        X_FORWARDED,
        "::ffff:10.0.0.2",
        [("X-Forwarded-For", "203.0.113.9:5555")],
        "203.0.113.9",
        False,
    ),
    # The scheme the trusted proxy saw.
    (PROXY_NETS, X_FORWARDED, "10.0.0.2", [("X-Forwarded-Proto", "https")], "10.0.0.2", True),
    (PROXY_NETS, X_FORWARDED, "10.0.0.2", [("X-Forwarded-Proto", "http")], "10.0.0.2", False),
    # In x-forwarded-for mode a Forwarded header is never read (nginx passes it through untouched).
    (PROXY_NETS, X_FORWARDED, "10.0.0.2", [("Forwarded", "for=1.2.3.4;proto=https")], "10.0.0.2", False),
    # RFC 7239: the client's element carries the proto of the connection it made.
    (
        PROXY_NETS,
        FORWARDED,
        "10.0.0.2",
        [("Forwarded", 'for=6.6.6.6;proto=http, for="[2001:db8::1]:4711";proto=https, for=10.3.3.3')],
        "2001:db8::1",
        True,
    ),
    (PROXY_NETS, FORWARDED, "10.0.0.2", [("X-Forwarded-For", "1.2.3.4")], "10.0.0.2", False),
    (PROXY_NETS, FORWARDED, "10.0.0.2", [("Forwarded", "for=unknown")], "10.0.0.2", False),
    (PROXY_NETS, FORWARDED, "fd00::5", [("Forwarded", "for=203.0.113.1;proto=HTTPS")], "203.0.113.1", True),
]


@pytest.mark.parametrize(("trusted", "mode", "peer", "headers", "address", "tls"), CASES)
def test_client_is_the_rightmost_hop_no_trusted_proxy_vouches_for(
    trusted: tuple[str, ...], mode: str, peer: str, headers: list[tuple[str, str]], address: str, tls: bool
) -> None:
    origin = TrustedProxies(trusted, mode).origin(peer, CIMultiDict(headers), socket_tls=False)
    assert (origin.address, origin.tls) == (address, tls)


def test_a_tls_socket_counts_as_tls_unless_a_trusted_proxy_says_otherwise() -> None:
    proxies = TrustedProxies(PROXY_NETS)
    assert proxies.origin("198.51.100.7", CIMultiDict(), socket_tls=True).tls
    said_http = CIMultiDict([("X-Forwarded-Proto", "http")])
    assert not proxies.origin("10.0.0.2", said_http, socket_tls=True).tls
    assert proxies.origin(None, CIMultiDict(), socket_tls=False).address == "unknown"
