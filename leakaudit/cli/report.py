"""`leakaudit report`: re-render a saved findings document, without the database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leakaudit.cli.output import Emitter, report_options
from leakaudit.errors import InputError
from leakaudit.findings import SCHEMA_ID, FindingsDocument, schema_problem

EPILOG = """\b
Examples:
  leakaudit report findings.json -o findings.html -o findings.sarif
  leakaudit report findings.json --format csv > findings.csv
  LEAKAUDIT_REDACT_KEY=... leakaudit report findings.json --redact -o shareable.md
"""


def load_document(path: Path) -> FindingsDocument:
    """A saved `leakaudit.findings/v1` document; InputError naming the file if it is not one."""
    try:
        return _load_document(path)
    except RecursionError as exc:  # json and the schema check recurse once per level
        raise InputError("Not a findings document: its JSON is nested too deeply.", path) from exc


def _load_document(path: Path) -> FindingsDocument:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"Cannot read the findings document: {exc.strerror}.", path) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Not a JSON document: {exc.msg} (column {exc.colno}).", path, exc.lineno
        ) from exc
    except ValueError as exc:  # bytes that are not UTF-8
        raise InputError(f"Not a JSON document: {exc}.", path) from exc
    if not isinstance(data, dict):
        raise InputError("Not a leakaudit.findings/v1 document: not a JSON object.", path)
    schema = data.get("schema")
    if schema is None:
        raise InputError(
            'Not a leakaudit findings document: it has no "schema" key (write one with '
            "`leakaudit audit -o FILE.json`).",
            path,
        )
    if isinstance(schema, str) and schema.startswith("leakaudit.findings/") and schema != SCHEMA_ID:
        raise InputError(
            f"This findings document is {schema!r}; this leakaudit reads {SCHEMA_ID} only "
            "(a newer document needs a newer leakaudit).",
            path,
        )
    if schema == SCHEMA_ID:
        problem = schema_problem(data)
        if problem is not None:
            raise InputError(f"Not a valid leakaudit.findings/v1 document: {problem}", path)
    try:
        return FindingsDocument.from_dict(data)
    except KeyError as exc:
        raise InputError(f"Not a leakaudit.findings/v1 document: missing key {exc}.", path) from exc
    except ValueError as exc:  # the schema id, or a timestamp that does not parse
        raise InputError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", path) from exc
    except (TypeError, AttributeError) as exc:  # a value of the wrong JSON type
        raise InputError(f"Not a leakaudit.findings/v1 document: {exc}.", path) from exc


@click.command(epilog=EPILOG)
@click.argument("findings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@report_options
def report(
    findings: Path,
    outputs: tuple[str, ...],
    fmt: str | None,
    redact_flag: bool,
    redact_key: str | None,
) -> None:
    """Render the saved findings document FINDINGS (from `audit -o FILE.json`) again.

    Without -o the summary goes to the terminal, or the --format report to standard output.
    No database is needed. Exit codes: 0 reports written, 2 unreadable document or bad flags.
    """
    emitter = Emitter(outputs, fmt, redact_flag, redact_key, {findings: "an input file"})
    document = load_document(findings)
    try:
        emitter.emit(document, summary=not outputs)
    except RecursionError as exc:  # an evidence value nested ~1,000 deep loads, yet renders not
        raise InputError(
            "Not a findings document leakaudit can render: a value in it is nested too deeply.",
            findings,
        ) from exc
