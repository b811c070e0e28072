"""``actions.http`` in ``runbookd.yml`` — which hosts and ports ``action: http`` may call.

Deployment config, not policy: a rule file's ``url:`` is a template, and a label templated into it
could point a request at any loopback port (``127.0.0.1:6379``). The allow-list is checked on the
rendered URL just before the request (``receiver.actions.http``); ``runbookd check`` refuses a URL
template whose scheme, host or port is not fixed text or ``vars`` (``receiver.rules.checks``).
Kept free of other runbookd imports so ``receiver.settings`` can import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, field_validator

DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = -1


def parse_host_entry(entry: str) -> tuple[str, int | None] | None:
    """One allow-list entry as (lower-case host, port): ``None`` port means the scheme's default port
    (80 for http, 443 for https), ``ANY_PORT`` every port. ``None`` for an empty entry (an unset variable).

    Forms: a URL (``http://127.0.0.1:8080/api``: its host and port, explicit or default), ``host``,
    ``host:port``, ``host:*``, ``[::1]:8080``. Raises ``ValueError`` for anything else.
    """
    text = entry.strip()
    if not text:
        return None
    if "://" in text:
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as e:
            raise ValueError(f"{entry!r} is not a valid URL: {e}") from None
        if url.scheme not in DEFAULT_PORTS or not url.host:
            raise ValueError(f"{entry!r} has no http(s) scheme and host")
        return url.host.lower(), url.port or DEFAULT_PORTS[url.scheme]
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{entry!r} is not host, host:port or a URL")
        port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or any(c in host for c in "/@?# ") or (port and port != "*" and not port.isdigit()):
        raise ValueError(f"{entry!r} is not host, host:port or a URL")
    if port.isdigit() and not 0 < int(port) < 65536:
        raise ValueError(f"{entry!r}: port out of range")
    return host.lower(), (ANY_PORT if port == "*" else int(port) if port else None)


class HttpConfig(BaseModel):
    """``actions.http`` — ``allowed_hosts``: the hosts (and ports) ``action: http`` may call.

    Each entry is a URL (its host and port; ``${TRADING_API_URL}`` fits as it is), ``host`` (its
    default ports 80/443 only), ``host:port`` or ``host:*`` (any port); empty entries (unset
    variables) are ignored. Not set: the hosts of the URLs among ``vars`` (the targets the deployment
    configured); ``[]`` allows no host. Raises ``pydantic.ValidationError`` for a malformed entry.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_hosts: list[str] | None = None

    @field_validator("allowed_hosts")
    @classmethod
    def _entries(cls, entries: list[str] | None) -> list[str] | None:
        for i, entry in enumerate(entries or []):
            try:
                parse_host_entry(entry)
            except ValueError as e:
                raise ValueError(f"allowed_hosts[{i}]: {e}") from None
        return entries


class ActionsConfig(BaseModel):
    """``actions:`` — deployment limits of playbook actions (``http``: its host allow-list)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    http: HttpConfig = HttpConfig()


@dataclass(frozen=True)
class HostAllowList:
    """The (host, port) pairs ``action: http`` may reach; see ``parse_host_entry`` for the entries."""

    entries: frozenset[tuple[str, int | None]]

    @classmethod
    def of(cls, entries: Iterable[str]) -> HostAllowList:
        """Parse ``entries`` (empty ones skipped). Raises ``ValueError`` for a malformed one."""
        return cls(frozenset(e for e in (parse_host_entry(x) for x in entries) if e is not None))

    def allows(self, url: httpx.URL) -> bool:
        """Whether ``url``'s host and port (explicit, or its scheme's default) are allowed."""
        host = (url.host or "").lower()
        port = url.port or DEFAULT_PORTS.get(url.scheme)
        for h, p in self.entries:
            if h == host and (p == ANY_PORT or p == port or (p is None and port == DEFAULT_PORTS.get(url.scheme))):
                return True
        return False

    def __str__(self) -> str:
        shown = sorted(f"{h}:{'*' if p == ANY_PORT else p or 'default'}" for h, p in self.entries)
        return ", ".join(shown) or "none"
