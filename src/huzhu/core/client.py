"""The address a request comes from.

The peer's own address, unless the peer is one of our proxies (`HUZHU_TRUSTED_PROXIES`): then
the address that the proxies name in `X-Forwarded-For`. Each proxy appends the address it got
the request from, so the header is read from the right, over our proxies, to the first address
that is not one of them; what lies left of it was written by the client and proves nothing.
From any other peer the header is ignored: anyone can send one.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# More hops than any real chain of proxies; a longer header is read only this far from the right.
MAX_HOPS = 16


@functools.lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in spec)


def trusted_peer(address: IPAddress) -> bool:
    """One of our proxies or load balancers, or another machine of our own network
    (HUZHU_TRUSTED_PROXIES)."""
    spec = tuple(getattr(settings, "HUZHU_TRUSTED_PROXIES", ()) or ())
    return any(address in network for network in _networks(spec))


def parse_address(text: str) -> IPAddress | None:
    """An IP address as a peer or a proxy writes it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:443`,
    `::ffff:1.2.3.4`), or None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest | None) -> IPAddress | None:
    """The client's address (see the module's docstring), or None when there is none."""
    if request is None:
        return None
    address = parse_address(str(request.META.get("REMOTE_ADDR", "")))
    if address is None or not trusted_peer(address):
        return address
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    for hop in reversed(forwarded.split(",")[-MAX_HOPS:]):
        named = parse_address(hop)
        if named is None:
            break  # garbage after our proxies: the last address they vouch for stands
        address = named
        if not trusted_peer(named):
            break
    return address


def client_address(request: HttpRequest | None) -> str:
    """The client's address as text, "" when there is none."""
    address = client_ip(request)
    return "" if address is None else str(address)
