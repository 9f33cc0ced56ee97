"""One row per finding (`.csv`), safe to open in a spreadsheet.

UTF-8 without a byte-order mark, RFC 4180 line ends, every cell quoted (`csv.QUOTE_ALL`).
Text cells are neutralised as OWASP's CSV-injection guidance asks: a cell beginning with `=`,
`+`, `-`, `@`, tab, CR, LF or NUL gets a leading `'`, so no spreadsheet reads it as a formula.

Numbers stay numbers: counts and line numbers are written as plain decimal digits and never
prefixed. Quoting in CSV is lexical, not a type: Excel, LibreOffice and pandas read `"41"` as
the number 41. (Leaving numbers bare would need `csv.QUOTE_STRINGS`/`QUOTE_NOTNULL` of Python
3.12; `QUOTE_NONNUMERIC` would also quote empty cells and makes readers that honour it parse
every bare cell as a float. Quoting every cell is what the issue asks and is the safer form.)

Cells are cut to 32,767 characters, the most a spreadsheet cell holds. List-valued entities
and rule parameters are written as JSON text, so a value holding `;` or `,` stays unambiguous.
Each row carries its finding's provenance (`records.finding_provenance`) in flat columns.
"""

from __future__ import annotations

import csv
import io
import json

from leakaudit.findings import EntityValue, Finding, FindingsDocument
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.records import finding_provenance
from leakaudit.reports.terminal import safe_plain
from leakaudit.reports.textsafe import utf8_bytes

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")
MAX_CELL_CHARS = 32_767  # Excel's and LibreOffice's limit per cell

Cell = str | int | None

FINDING_COLUMNS: tuple[str, ...] = (
    "fingerprint",
    "severity",
    "category",
    "rule_id",
    "pack",
    "status",
    "title",
    "reason",
    "first_seen",
    "last_seen",
    "event_count",
)
EXPOSURE_COLUMNS: tuple[str, ...] = (
    "recipient_accounts",
    "owner_accounts",
    "items_delivered",
    "items_viewed",
)
EVIDENCE_COLUMNS: tuple[str, ...] = ("evidence_file", "evidence_line", "evidence_rows")
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "leakaudit_version",
    "duckdb_version",
    "run_started_at",
    "window_start",
    "window_end",
    "pack_version",
    "pack_sha256",
    "params",
    "input_sha256",
)


def inert_cell(text: str) -> str:
    """A text cell that no spreadsheet evaluates and no terminal obeys (`cat` of the file shows
    ESC as `\\x1b`), whole: what `query --format csv` writes."""
    prefix = "'" if text.startswith(FORMULA_TRIGGERS) else ""
    return prefix + safe_plain(text)


def neutralise(text: str) -> str:
    """`inert_cell`, cut to what a spreadsheet cell can hold: a findings report is read there."""
    text = inert_cell(text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    return neutralise(value)


def _entity_text(value: EntityValue) -> str | None:
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _row(doc: FindingsDocument, f: Finding, entity_keys: list[str]) -> list[str | int]:
    d = f.to_dict()
    exposure = d["exposure"]
    first = f.evidence[0] if f.evidence else None
    prov = finding_provenance(doc, f)
    inputs = prov["inputs"]
    cells: list[Cell] = [
        *(d[c] for c in FINDING_COLUMNS),
        *(exposure.get(c) for c in EXPOSURE_COLUMNS),
        *(_entity_text(f.entities.get(k)) for k in entity_keys),
        first.source_file if first else None,
        first.source_line if first else None,
        len(f.evidence),
        prov["leakaudit_version"],
        prov["duckdb_version"],
        prov["started_at"],
        prov["window"]["start"],
        prov["window"]["end"],
        prov["pack"].get("version"),
        prov["pack"].get("sha256"),
        json.dumps(prov["params"], sort_keys=True, ensure_ascii=False),
        next((i["sha256"] for i in inputs if first and i["path"] == first.source_file), None),
    ]
    return [_cell(c) for c in cells]


@register("csv", (".csv",), "one row per finding, spreadsheet-safe")
def render_csv(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """Header row, then one row per finding in the document's order."""
    entity_keys = sorted({k for f in doc.findings for k in f.entities})
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    entity_columns = [f"entity.{k}" for k in entity_keys]
    header = [*FINDING_COLUMNS, *EXPOSURE_COLUMNS, *entity_columns]
    writer.writerow([neutralise(h) for h in [*header, *EVIDENCE_COLUMNS, *PROVENANCE_COLUMNS]])
    for f in doc.findings:
        writer.writerow(_row(doc, f, entity_keys))
    return utf8_bytes(out.getvalue())
