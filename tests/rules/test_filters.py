"""The URL filters of step templates: a label cannot leave the path segment it is templated into."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from receiver.playbooks.render import render_value
from receiver.rules.filters import path_segment

CTX: dict[str, Any] = {"vars": {"api": "http://trading.test"}, "alert": {"labels": {}}}


def _url(template: str, label: str) -> str:
    ctx = {**CTX, "alert": {"labels": {"venue": label}}}
    return str(render_value(template, ctx))


@pytest.mark.parametrize("flt", ["urlencode", "path_segment"])
def test_a_label_with_slashes_stays_in_its_path_segment(flt: str) -> None:
    """``../../etc/passwd`` through ``urlencode`` or ``path_segment`` is one segment: its ``/`` are encoded,
    and the request httpx sends goes to the templated path, not ``/etc/passwd``."""
    url = _url("{{ vars.api }}/venues/{{ alert.labels.venue | " + flt + " }}/halt", "../../etc/passwd")
    assert url == "http://trading.test/venues/..%2F..%2Fetc%2Fpasswd/halt"
    assert httpx.URL(url).raw_path == b"/venues/..%2F..%2Fetc%2Fpasswd/halt"


@pytest.mark.parametrize("flt", ["urlencode", "path_segment"])
def test_a_dot_segment_label_is_encoded(flt: str) -> None:
    """A label ``..`` would be removed with the segment before it by the HTTP client (RFC 3986 5.2.4):
    its dots are encoded, so the path keeps its shape."""
    url = _url("{{ vars.api }}/venues/{{ alert.labels.venue | " + flt + " }}/halt", "..")
    assert httpx.URL(url).raw_path == b"/venues/%2E%2E/halt"


def test_path_segment_encodes_reserved_characters_and_keeps_unreserved_ones() -> None:
    """``?``, ``#``, ``%``, ``@``, ``:``, space and non-ASCII are percent-encoded (UTF-8); ``A-Z a-z 0-9 - . _ ~``
    are kept."""
    assert path_segment("a?b#c%d@e:f g/é") == "a%3Fb%23c%25d%40e%3Af%20g%2F%C3%A9"
    assert path_segment("XNAS-1.2_~") == "XNAS-1.2_~"
    assert path_segment(None) == ""


def test_urlencode_of_a_mapping_still_builds_a_query_string() -> None:
    """``{{ {'q': 'a b', 'x': '1/2'} | urlencode }}`` is ``q=a+b&x=1%2F2`` as in Jinja2."""
    assert render_value("{{ {'q': 'a b', 'x': '1/2'} | urlencode }}", CTX) == "q=a+b&x=1%2F2"
