"""HTTP authentication checks shared by the webhook and the admin API (constant-time compares)."""

from __future__ import annotations

import base64
import binascii
import hmac


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token``."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def basic_ok(header: str | None, username: str, password: str) -> bool:
    """Whether ``Authorization: Basic …`` carries ``username:password`` (RFC 7617)."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, pw = raw.partition(":")
    return bool(sep) and hmac.compare_digest(user.encode(), username.encode()) and hmac.compare_digest(
        pw.encode(), password.encode())
