"""Fetching a URL, optionally only from public addresses.

A server that fetches the URLs its users give it must not become their way into the
network it sits in (its own loopback services, the LAN, a cloud's metadata address at
169.254.169.254). With `public_only`, every connection, the first and each redirect's,
resolves the host itself and refuses to connect when any of its addresses is loopback,
private, link-local or otherwise not global; it then connects to the very address it
checked, so a name that resolves differently a moment later (DNS rebinding) gains
nothing. Proxies from the environment are not used then: a proxy would do the resolving.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from typing import Any

USER_AGENT = "newsqa (+https://pypi.org)"


class RefusedAddress(OSError):
    """The URL's host resolves to an address that is not to be fetched."""


def not_public(address: str) -> str | None:
    """What kind of non-public address this is ("loopback", "private", ...), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) goes
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, test in (
        ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified), ("link-local", ip.is_link_local),
        ("private", ip.is_private), ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
    ):
        if test:
            return kind
    return None if ip.is_global else "non-global"


def _public_connection(
    address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None, *args: Any, **kwargs: Any,
) -> socket.socket:
    """`socket.create_connection`, refusing hosts with any non-public address."""
    host, port = address
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in found:
        if kind := not_public(str(sockaddr[0])):
            named = host if host == sockaddr[0] else f"{host} ({sockaddr[0]})"
            raise RefusedAddress(
                f"refused: {named} is a {kind} address, and this server fetches only public "
                "ones (its operator can allow others with --allow-private-urls)"
            )
    last: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _, sockaddr in found:
        sock = socket.socket(family, kind, protocol)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last = error
    raise last


def _checked(connection: type[http.client.HTTPConnection]) -> Any:
    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        made = connection(host, **kwargs)
        made._create_connection = _public_connection  # type: ignore[attr-defined]  # what connect() calls
        return made
    return make


class _PublicHTTP(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked(http.client.HTTPConnection), req)


class _PublicHTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_checked(http.client.HTTPSConnection), req,
                            context=getattr(self, "_context", None))


def open_url(url: str, timeout: float, public_only: bool = False) -> Any:
    """`urllib.request.urlopen(url)` with our user agent, and with `public_only` the
    address checks above. Raises what urlopen raises; a refused address comes as a
    `urllib.error.URLError` whose reason is a `RefusedAddress`."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if not public_only:
        return urllib.request.urlopen(request, timeout=timeout)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _PublicHTTP(), _PublicHTTPS())
    return opener.open(request, timeout=timeout)

