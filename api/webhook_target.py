"""Where a webhook request may go: the guard that keeps subscriptions from reaching inside.

A subscription's URL is chosen by an API caller, so a request to it could otherwise reach the
host's own services, the private network or a cloud metadata endpoint (server-side request
forgery). `pin` resolves the host once, refuses the request when any address is private,
loopback, link-local, multicast, reserved or unspecified (unless the operator allows private
targets), and returns the URL rewritten to the checked address, with the name kept for the
``Host`` header and TLS: connecting to the address that was checked, rather than resolving the
name again, is what stops a DNS answer that changes between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be requested (a private address, no address, a bad URL): retried like a
    failed request, since DNS or the setting can change, and dead-lettered at the deadline."""


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """A checked request target: the URL on the address, and the name it stands for."""

    url: httpx.URL
    #: The name, for TLS (SNI and the certificate check).
    host: str
    #: The name and port as the URL gave them, for the ``Host`` header.
    netloc: str


def refusal(address: IPAddress) -> str | None:
    """Why a request to `address` is refused, or None for a public address.

    >>> refusal(ipaddress.ip_address("169.254.169.254"))
    'link-local'
    >>> refusal(ipaddress.ip_address("93.184.216.34")) is None
    True
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if flag:
            return reason
    return None


def pin(url: str, *, allow_private: bool) -> PinnedTarget:
    """Resolve `url`'s host and check every address it has; raises `TargetRefused`."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"not a usable URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("not an http(s) URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{parsed.host} does not resolve: {exc}") from None
    # An IPv6 answer can carry a zone ("fe80::1%eth0"); the zone is not part of the address.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{parsed.host} has no address")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise TargetRefused(
                    f"{parsed.host} is {address}, a {reason} address "
                    "(set CARGOWATCH_WEBHOOK_ALLOW_PRIVATE to allow it)"
                )
    return PinnedTarget(
        parsed.copy_with(host=str(addresses[0])), parsed.host, parsed.netloc.decode("ascii")
    )
