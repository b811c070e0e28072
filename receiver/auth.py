"""HTTP authentication checks shared by the webhook and the admin API (constant-time compares).

Header values arrive as aiohttp decodes them: UTF-8 with undecodable bytes surrogate-escaped. They
are compared as the bytes that were sent, so a header that is not UTF-8 (``Bearer \\xff``) is simply
not the token: ``False``, never an exception before authentication.
"""

from __future__ import annotations

import base64
import binascii
import hmac


def _wire_bytes(text: str) -> bytes | None:
    """The bytes of a header value as sent (``surrogateescape`` undoes aiohttp's decoding); ``None``
    when the text holds a surrogate that no byte decodes to."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token`` (RFC 6750; compared as UTF-8 bytes)."""
    if not header or not header.startswith("Bearer "):
        return False
    sent = _wire_bytes(header[7:].strip())
    return sent is not None and hmac.compare_digest(sent, token.encode("utf-8", "surrogateescape"))


def basic_ok(header: str | None, username: str, password: str) -> bool:
    """Whether ``Authorization: Basic …`` carries ``username:password`` (RFC 7617, UTF-8)."""
    if not header or not header.startswith("Basic ") or not header.isascii():
        return False
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return False
    user, sep, pw = raw.partition(":")
    esc = "surrogateescape"  # configured secrets come from the environment, decoded that way
    return bool(sep) and hmac.compare_digest(user.encode(), username.encode("utf-8", esc)) and hmac.compare_digest(
        pw.encode(), password.encode("utf-8", esc))
