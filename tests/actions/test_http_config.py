"""``actions.http.allowed_hosts``: the entries it takes, what they allow, and its default."""

from __future__ import annotations

import httpx
import pytest

from receiver.config.http_actions import HostAllowList
from receiver.errors import ConfigError
from receiver.settings import parse_settings


def _allows(entries: list[str], url: str) -> bool:
    return HostAllowList.of(entries).allows(httpx.URL(url))


@pytest.mark.parametrize(("entries", "url", "allowed"), [
    (["http://127.0.0.1:8080/api"], "http://127.0.0.1:8080/admin/stop", True),
    (["http://127.0.0.1:8080/api"], "http://127.0.0.1:6379/", False),
    (["http://127.0.0.1:8080"], "http://127.0.0.1:8080@127.0.0.1:6379/", False),  # userinfo is not the host
    (["trading.example"], "https://TRADING.example/halt", True),
    (["trading.example"], "http://trading.example:8443/halt", False),  # no port: 80 and 443 only
    (["trading.example:*"], "http://trading.example:8443/halt", True),
    (["[::1]:9000"], "http://[::1]:9000/x", True),
    (["https://trading.example"], "https://trading.example.evil.test/x", False),
    (["", "  "], "http://127.0.0.1/", False),
])
def test_an_entry_allows_its_host_and_port_only(entries: list[str], url: str, allowed: bool) -> None:
    """A URL entry allows its host and port; ``host`` its default ports; ``host:*`` every port."""
    assert _allows(entries, url) is allowed


def test_a_malformed_entry_is_a_config_error_naming_it() -> None:
    """``allowed_hosts: ["ftp://x"]`` or ``["a:b"]`` fails to load, naming the key and the entry."""
    with pytest.raises(ConfigError, match=r"actions\.http\.allowed_hosts: .*allowed_hosts\[1\]: 'host:port' is not"):
        parse_settings({"actions": {"http": {"allowed_hosts": ["ok.example", "host:port"]}}})
    with pytest.raises(ConfigError, match=r"allowed_hosts\[0\]: 'ftp://x' has no http\(s\) scheme"):
        parse_settings({"actions": {"http": {"allowed_hosts": ["ftp://x"]}}})


def test_unset_it_allows_the_urls_of_vars_and_nothing_else() -> None:
    """Without ``allowed_hosts`` the hosts of the URLs among ``vars`` are allowed; ``[]`` allows none."""
    s = parse_settings({"vars": {"api": "http://127.0.0.1:7001", "name": "desk-1"}})
    assert s.http_allowed_hosts() == ["http://127.0.0.1:7001"]
    none = parse_settings({"vars": {"api": "http://127.0.0.1:7001"}, "actions": {"http": {"allowed_hosts": []}}})
    assert none.http_allowed_hosts() == []


def test_the_shipped_entry_follows_trading_api_url() -> None:
    """``${TRADING_API_URL:-}`` in the shipped runbookd.yml allows that host and port; unset, it is ignored."""
    from receiver.settings import load_settings
    from tests.test_shipped_configs import ROOT

    s = load_settings(ROOT / "runbookd.yml", env={"TRADING_API_URL": "http://trading.internal:8443"})
    assert s.actions.http.allowed_hosts == ["http://trading.internal:8443"]  # explicit, not the vars default
    assert HostAllowList.of(s.http_allowed_hosts()).allows(httpx.URL("http://trading.internal:8443/admin/x"))
    assert not HostAllowList.of(s.http_allowed_hosts()).allows(httpx.URL("http://trading.internal:6379/"))
    assert HostAllowList.of(load_settings(ROOT / "runbookd.yml", env={}).http_allowed_hosts()).entries == frozenset()
