"""The SPEC §4 JSON document (`.json`) and one finding a line (`.jsonl`).

Both are written with sorted keys and `ensure_ascii=False`, so equal documents give equal
bytes; only the characters a terminal would obey (C1 controls, bidi controls, U+2028) are
written as `\\uXXXX` (`textsafe.json_inert`). Lone surrogates (input bytes that were not
UTF-8) become U+FFFD on the way out, so the output is always valid UTF-8 JSON. Each JSON
Lines record is a finding of the document plus a `provenance` object
(`records.finding_provenance`); leakaudit/schemas/findings.schema.json describes both.
"""

from __future__ import annotations

import json
from typing import Any

from leakaudit.findings import FindingsDocument
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.records import finding_provenance
from leakaudit.reports.textsafe import json_inert, utf8_bytes


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON text: sorted keys, real Unicode, no trailing spaces."""
    separators = (",", ": ") if indent is not None else (",", ":")
    return json_inert(
        json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent, separators=separators)
    )


@register("json", (".json",), "the leakaudit.findings/v1 document (SPEC §4)")
def render_json(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The whole document, indented, ending with a newline."""
    return utf8_bytes(dumps(doc.to_dict(), indent=2) + "\n")


@register("jsonl", (".jsonl",), "one finding a line, each with its provenance")
def render_jsonl(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """One compact JSON object a line, in the document's finding order."""
    lines = [
        dumps({**f.to_dict(), "provenance": finding_provenance(doc, f)}) + "\n"
        for f in doc.findings
    ]
    return utf8_bytes("".join(lines))
