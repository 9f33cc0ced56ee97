"""Log-derived text made safe for an output encoding.

Input files may hold bytes that are not UTF-8 (kept as lone surrogates by `surrogateescape`)
and control characters; no report may fail on them or write them raw where a format forbids
them.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters a terminal or viewer obeys although JSON may hold them raw: DEL and the C1
# controls (U+009B is CSI, like ESC [; U+0085 is a line break to `str.splitlines`), the bidi
# controls that reorder text (U+202E), and the Unicode line and paragraph separators, which
# split a JSON Lines record for readers that honour them.
_JSON_OBEYED = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def utf8_bytes(text: str) -> bytes:
    """`text` as UTF-8, lone surrogates (undecodable input bytes) written as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def json_inert(text: str) -> str:
    """JSON text with the characters of `_JSON_OBEYED` written as `\\uXXXX` escapes.

    Lossless: outside its strings JSON holds only ASCII, so every such character is inside a
    string, where the escape means the same character to any parser; `cat` of the file no
    longer hands a CSI to the terminal."""
    return _JSON_OBEYED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids (control characters such as ESC or NUL,
    lone surrogates, U+FFFE/U+FFFF) replaced by U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", text)
