"""Alertmanager's fingerprint of a label set, for bodies that carry none (Alertmanager before 0.19).

Follows prometheus/common ``model/labelset.go`` (``LabelSet.Fingerprint``, ``labelSetToFingerprint``)
and ``model/fnv.go``: FNV-1a 64 over the label names in byte order, each name and each value followed
by the separator byte 0xff; printed as ``Fingerprint.String()`` does, ``%016x``.
"""

from __future__ import annotations

from collections.abc import Mapping

_OFFSET64 = 14695981039346656037
_PRIME64 = 1099511628211
_MASK64 = (1 << 64) - 1
_SEPARATOR = 0xFF


def labelset_fingerprint(labels: Mapping[str, str]) -> str:
    """The 16 lowercase hex digits Alertmanager computes for ``labels`` (UTF-8 bytes, names sorted)."""
    h = _OFFSET64
    # Go sorts the names as byte strings; sorting str by code point gives the same order as UTF-8 bytes.
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8", "surrogatepass"):
                h = ((h ^ byte) * _PRIME64) & _MASK64
            h = ((h ^ _SEPARATOR) * _PRIME64) & _MASK64
    return f"{h:016x}"
