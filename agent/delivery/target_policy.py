"""Refuse webhook targets that point into the worker's own network (SSRF guard).

Webhook URLs come from dispatch documents, which a backend (or, via room metadata, anyone who
can set it) controls. Without a guard, ``http://169.254.169.254/...`` or ``http://10.0.0.5/``
would let a dispatch document make the worker talk to cloud metadata services and
cluster-internal endpoints. So every target is resolved, every address it resolves to is
checked, and the connection is then pinned to exactly those checked addresses through
:class:`PinnedResolver` (checking one lookup and connecting with another would let a DNS
rebinding answer a public address first and a private one second).

The operator exempts known internal receivers with ``VOICE_AGENT_ALLOWED_TARGETS`` (CIDRs or
host names); the simulator and tests use :meth:`TargetPolicy.loopback_allowed`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL  # aiohttp's own URL type: what its connections are made from

from agent.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ResolveHost = Callable[[str, int], Awaitable[list[str]]]
"""Turns (host name, port) into IP address strings. Injectable so tests never need real DNS."""

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_-]{1,63})*$"
)
_SCHEMES = frozenset({"http", "https"})
# Ranges the stdlib flags imperfectly on Python 3.11: shared address space (carrier-grade NAT)
# is neither "private" nor "global" there, and multicast counts as "global".
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(Exception):
    """A webhook target the policy will not connect to. The message names the host only:
    paths and query strings may carry tokens and never reach a log line."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"webhook target {host!r} refused: {reason}")


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL whose host resolved only to permitted addresses; connect to these and no other."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


async def resolve_with_system_dns(host: str, port: int) -> list[str]:
    """The production resolver: the OS resolver through the event loop's executor."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal_reason(address: IPAddress) -> str | None:
    """Why connecting to ``address`` is refused, or None when it is a public unicast address.

    Addresses that embed an IPv4 address (``::ffff:127.0.0.1``, 6to4 ``2002::/16``) are judged
    by the embedded address too, so the IPv6 spelling of a private address is not a way round.
    """
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour):
            if embedded is not None and (why := refusal_reason(embedded)) is not None:
                return f"{why} (embedded in {address})"
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (address in _SHARED_ADDRESS_SPACE, "shared (carrier-grade NAT)"),
        (not address.is_global, "non-global"),
    )
    for refused, name in checks:
        if refused:
            return f"{name} address {address}"
    return None


class TargetPolicy:
    """Which webhook targets the worker may connect to.

    ``allowed`` entries are CIDRs (``10.20.0.0/16``, ``fd00::/8``, a bare IP) or host names
    (``hooks.internal``); a listed host name is exempt whatever it resolves to, a listed
    network exempts the addresses inside it. Everything else must resolve only to public
    unicast addresses: one private answer among public ones refuses the whole target.
    """

    def __init__(self, allowed: Iterable[str] = (), *, resolve: ResolveHost | None = None) -> None:
        self._networks: list[IPNetwork] = []
        self._hosts: set[str] = set()
        for raw in allowed:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(entry):
                raise ConfigError(
                    f"{raw!r} is neither a CIDR nor a host name",
                    path="VOICE_AGENT_ALLOWED_TARGETS",
                )
            self._hosts.add(entry)
        self._resolve: ResolveHost = resolve or resolve_with_system_dns

    @classmethod
    def loopback_allowed(cls, *, resolve: ResolveHost | None = None) -> TargetPolicy:
        """A policy for the simulator and tests: loopback receivers are fine, the rest is not."""
        return cls(["127.0.0.0/8", "::1/128"], resolve=resolve)

    def _exempt(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    async def check(self, url: str) -> CheckedTarget:
        """Resolve ``url``'s host and return the addresses to connect to.

        Raises :class:`TargetRefused` for a non-http(s) scheme, a URL without a host, or any
        refused address; lets :class:`OSError` from DNS through (a lookup failure is
        transient and the caller retries it).
        """
        scheme, host, port = split_target(url)
        literal = _as_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except UnicodeError as exc:  # split_target's checks make this unreachable
                raise TargetRefused(host, "the host name cannot be encoded for DNS") from exc
            if not addresses:
                raise OSError(f"{host!r} resolved to no addresses")
        if host not in self._hosts:
            for text in addresses:
                address = ipaddress.ip_address(text.split("%", 1)[0])
                if self._exempt(address):
                    continue
                if (why := refusal_reason(address)) is not None:
                    raise TargetRefused(host, f"resolves to {why}")
        return CheckedTarget(scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def split_target(url: str) -> tuple[str, str, int]:
    """Scheme, host (ASCII, as the HTTP client will connect to it) and port of ``url``.

    Raises :class:`TargetRefused` for a URL that cannot be parsed, a scheme other than http(s),
    no host, a bad port, or a host name that is not valid IDNA (a label over 63 characters, an
    empty label, code points IDNA forbids): such a name would otherwise fail deep inside the
    resolver or the client with a ``UnicodeError`` rather than be refused.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:
        raise TargetRefused("<invalid>", "the URL cannot be parsed") from exc
    scheme = parts.scheme.lower()
    shown = _shown(hostname or "<none>")
    if scheme not in _SCHEMES:
        raise TargetRefused(shown, f"scheme {scheme or '<none>'!r} is not http(s)")
    if not hostname:
        raise TargetRefused("<none>", "the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(shown, "the URL has an invalid port") from exc
    if _as_address(hostname) is not None:
        return scheme, hostname, port
    return scheme, _ascii_host(url, hostname), port


def _ascii_host(url: str, hostname: str) -> str:
    shown = _shown(hostname)
    try:
        # aiohttp connects to yarl's encoding of the host (IDNA 2008 with UTS 46, then 2003),
        # so the name checked and pinned is the one the connection will ask for.
        host = (URL(url).raw_host or "").rstrip(".")
    except (UnicodeError, ValueError) as exc:
        raise TargetRefused(shown, "the host name is not a valid (IDNA) domain name") from exc
    if not host.isascii() or len(host) > 253:
        raise TargetRefused(shown, "the host name is not a valid (IDNA) domain name")
    if any(not 1 <= len(label) <= 63 for label in host.split(".")):
        raise TargetRefused(shown, "the host name has an empty label or one over 63 characters")
    return host


def _shown(host: str) -> str:
    """A host as logs and refusals show it: bounded, whatever the document sent."""
    return host if len(host) <= 80 else host[:77] + "..."


def _as_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class PinnedResolver(AbstractResolver):
    """Answers aiohttp's lookups with the addresses :meth:`TargetPolicy.check` approved.

    The host name stays the request's host, so TLS SNI, certificate checks and the Host header
    are unaffected; only the address the socket connects to is fixed. A host that was never
    checked gets no answer at all, so nothing can connect around the policy.
    """

    def __init__(self) -> None:
        self._pins: dict[str, tuple[str, ...]] = {}

    def pin(self, target: CheckedTarget) -> None:
        """Make the next connections to ``target.host`` go to its checked addresses."""
        self._pins[target.host.lower()] = target.addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pins.get(host.lower().rstrip("."))
        if addresses is None:
            raise OSError(f"{host!r} was not checked by the target policy")
        results: list[ResolveResult] = []
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            addr_family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            if family not in (socket.AF_UNSPEC, addr_family):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=port,
                    family=addr_family,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        if not results:
            raise OSError(f"{host!r} has no checked address of family {family!r}")
        return results

    async def close(self) -> None:
        self._pins.clear()
