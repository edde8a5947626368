"""HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY for a bare transport, as httpx.AsyncClient reads them.

Requests go straight to an httpx transport (see `client.ProviderClient`), and a transport never
reads the environment: the client does, by mounting one transport per proxy and choosing one per
URL. This module does the same with the same rules, so a user behind a proxy sets what every httpx
program understands: the variables as urllib reads them (lower case first), a proxy given without a
scheme taken as `http://`, NO_PROXY entries matched as httpx matches them (`*` turns every proxy off;
`example.com` is that host and its subdomains, `.example.com` only its subdomains; an IP address or
`localhost` that host only; `host:port` that port only), the most specific pattern first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.request import getproxies

import httpx

from llmprobe.errors import ConfigError


@dataclass(frozen=True)
class _Pattern:
    """A key of httpx's mounts (`all://`, `https://`, `all://*example.com`, `http://host:8080`)."""

    scheme: str
    host: str
    port: int | None
    host_regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, key: str) -> _Pattern:
        url = httpx.URL(key)
        host = "" if url.host == "*" else url.host
        if not host:
            regex = None
        elif host.startswith("*."):
            regex = re.compile(rf"^.+\.{re.escape(host[2:])}$")
        elif host.startswith("*"):
            regex = re.compile(rf"^(.+\.)?{re.escape(host[1:])}$")
        else:
            regex = re.compile(rf"^{re.escape(host)}$")
        return cls("" if url.scheme == "all" else url.scheme, host, url.port, regex)

    def matches(self, url: httpx.URL) -> bool:
        return (
            (not self.scheme or self.scheme == url.scheme)
            and (self.host_regex is None or self.host_regex.match(url.host) is not None)
            and (self.port is None or self.port == url.port)
        )

    @property
    def priority(self) -> tuple[int, int, int]:
        """httpx's order: a port before none, then the longer host, then the longer scheme."""
        return (0 if self.port is not None else 1, -len(self.host), -len(self.scheme))


def environment_proxies() -> dict[str, str | None]:
    """Mount key → proxy URL, or None where NO_PROXY says to go direct; empty when no proxy is set.

    urllib reads the variables (and, on macOS and Windows, the system's proxy settings), as for httpx."""
    found = getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            proxy = found[scheme]
            mounts[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    if not mounts:
        return {}
    for host in (entry.strip() for entry in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, ipaddress.IPv4Address) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, ipaddress.IPv6Address):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def _is_ip(host: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(host.split("/")[0])
    except ValueError:
        return False
    return True


class ProxyRoutes(httpx.AsyncBaseTransport):
    """Each request through the transport its URL's mount chooses; the direct one where none matches.

    The choice is a few comparisons per request: the transports themselves, and their
    connection pools, are made once."""

    def __init__(self, routes: list[tuple[_Pattern, httpx.AsyncBaseTransport]], direct: httpx.AsyncBaseTransport) -> None:
        self._routes = sorted(routes, key=lambda route: route[0].priority)
        self._direct = direct

    def transport(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        return next((transport for pattern, transport in self._routes if pattern.matches(url)), self._direct)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in {id(t): t for t in (self._direct, *(t for _, t in self._routes))}.values():
            await transport.aclose()


def routed_transport(
    make: Callable[[str | None], httpx.AsyncBaseTransport], mounts: Mapping[str, str | None]
) -> httpx.AsyncBaseTransport:
    """`make(None)` when no proxy is set, so a run without one pays nothing per request; else a
    ProxyRoutes of one `make(proxy)` per proxy URL, and `make(None)` where NO_PROXY says so.

    Raises ConfigError for a proxy httpx cannot use (an unknown scheme, SOCKS without socksio),
    naming the variable's scheme and host only: a proxy URL may carry a password."""
    direct = make(None)
    if not mounts:
        return direct
    made: dict[str, httpx.AsyncBaseTransport] = {}
    routes = []
    for key, proxy in mounts.items():
        if proxy is None:
            routes.append((_Pattern.parse(key), direct))
            continue
        if proxy not in made:
            try:
                made[proxy] = make(proxy)
            except (ImportError, ValueError) as exc:
                url = httpx.URL(proxy)
                raise ConfigError(f"cannot use the proxy {url.scheme}://{url.host} set for {key}: {exc}") from None
        routes.append((_Pattern.parse(key), made[proxy]))
    return ProxyRoutes(routes, direct)
