"""Log-derived text made safe for an output encoding.

Input files may hold bytes that are not UTF-8 (kept as lone surrogates by `surrogateescape`)
and control characters; no report may fail on them or write them raw where a format forbids
them.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def utf8_bytes(text: str) -> bytes:
    """`text` as UTF-8, lone surrogates (undecodable input bytes) written as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids (control characters such as ESC or NUL,
    lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", text)
