"""Who is really on the other end: the client address and scheme, through trusted proxies only.

Behind nginx or an Ingress every peer is the proxy, so rate limits, logs and audit
need the address the proxy saw. A proxy appends the address it received from to
``X-Forwarded-For`` (or a ``for=`` element to ``Forwarded``), and everything left of
what a trusted proxy appended may be forged by the client. So the client is the
rightmost hop that is not a trusted proxy, and headers are believed only when the
peer itself is trusted (``FQ_TRUSTED_PROXIES``; empty: the peer is the client).

Only one header is read (``FQ_PROXY_HEADER``): a proxy that writes one passes the
other through untouched, so reading both would let a client pick its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from multidict import MultiMapping

from shared.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``FQ_PROXY_HEADER`` value: nginx, ingress-nginx and most load balancers.
X_FORWARDED = "x-forwarded-for"
#: ``FQ_PROXY_HEADER`` value: RFC 7239 ``Forwarded`` (``for=``, ``proto=``).
FORWARDED = "forwarded"
#: Stand-in when even the peer is unknown (a closed transport).
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as far as trusted proxies vouch."""

    #: The client's IP address, normalised (``::ffff:1.2.3.4`` is ``1.2.3.4``).
    address: str
    #: Whether the client's connection used TLS (to us, or to the trusted proxy it reached).
    tls: bool


class TrustedProxies:
    """The networks of ``FQ_TRUSTED_PROXIES`` and the header they write."""

    def __init__(self, cidrs: Sequence[str], header: str = X_FORWARDED) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self.header = header

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedProxies:
        return cls(settings.trusted_proxies, settings.proxy_header)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def origin(self, peer: str | None, headers: MultiMapping[str], *, socket_tls: bool) -> Origin:
        """The client behind ``peer``: the rightmost hop that no trusted proxy vouches for."""
        peer_ip = parse_ip(peer)
        if peer_ip is None:
            return Origin(peer or UNKNOWN, socket_tls)
        if not self.trusts(peer_ip):
            return Origin(str(peer_ip), socket_tls)
        if self.header == FORWARDED:
            hops = _forwarded_elements(headers)
            protos = [proto for _, proto in hops]
            addresses = [addr for addr, _ in hops]
        else:
            addresses = _split(headers.getall("X-Forwarded-For", ()))
            protos = []
        client, index = peer_ip, len(addresses)
        for index in range(len(addresses) - 1, -1, -1):
            hop = parse_ip(addresses[index])
            if hop is None:
                # Garbage where an address should be: stop at the last hop a trusted proxy wrote.
                index += 1
                break
            client = hop
            if not self.trusts(hop):
                break
        if self.header == FORWARDED:
            # The proxy that received the client's connection wrote its proto in the same element.
            proto = protos[index] if index < len(protos) else None
        else:
            forwarded_protos = _split(headers.getall("X-Forwarded-Proto", ()))
            proto = forwarded_protos[-1] if forwarded_protos else None
        tls = socket_tls if proto is None else proto.lower() in ("https", "wss")
        return Origin(str(client), tls)


def parse_ip(text: str | None) -> Address | None:
    """An address from a hop (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``); None for junk."""
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _forwarded_elements(headers: MultiMapping[str]) -> list[tuple[str, str | None]]:
    """``(for, proto)`` of each ``Forwarded`` element, in order (no ``for=``: an unknown hop)."""
    elements: list[tuple[str, str | None]] = []
    for element in _split(headers.getall("Forwarded", ())):
        params: dict[str, str] = {}
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        elements.append((params.get("for", ""), params.get("proto")))
    return elements
