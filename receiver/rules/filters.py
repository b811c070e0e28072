"""Jinja2 filters that step templates see besides Jinja2's own: URL encoding that cannot leave a path segment.

Jinja2's built-in ``urlencode`` keeps ``/`` (it quotes for a whole path), so a label ``../../etc/passwd``
templated into a URL path walks up the target's tree. Here ``urlencode`` of a string and the new
``path_segment`` quote every byte outside RFC 3986's unreserved set (``A-Z a-z 0-9 - . _ ~``),
``/`` included, and a segment made only of dots (``.``, ``..``) has its dots encoded (``%2E``), since
HTTP clients remove dot segments before sending (RFC 3986 section 5.2.4). ``urlencode`` of a mapping
or of pairs still builds a query string as Jinja2's does. Pure: used by the renderer and by ``check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jinja2.filters import do_urlencode


def path_segment(value: Any) -> str:
    """``value`` as one URL path segment: UTF-8, every reserved byte percent-encoded (RFC 3986 3.3).

    ``"a/b c"`` → ``"a%2Fb%20c"``; ``".."`` → ``"%2E%2E"``; ``None`` → ``""``.
    """
    text = "" if value is None else str(value)
    encoded = quote(text, safe="")
    if encoded and set(encoded) == {"."}:
        return "%2E" * len(encoded)
    return encoded


def urlencode(value: Any) -> str:
    """Jinja2's ``urlencode``, except that a string is encoded as ``path_segment`` (``/`` too)."""
    if isinstance(value, str | bytes | int | float) and not isinstance(value, bool):
        return path_segment(value.decode() if isinstance(value, bytes) else value)
    return do_urlencode(value)


FILTERS: dict[str, Callable[..., Any]] = {"urlencode": urlencode, "path_segment": path_segment}
"""The filters to add to every environment that renders or checks step templates."""
