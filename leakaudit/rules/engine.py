"""Run rules on a store and turn their offending rows into findings.

A rule's SQL returns one row per offending event; everything else happens here, once, for all
rules: the SQL is wrapped as a CTE and DuckDB groups the rows by the rule's entity columns,
counts events and exposure, picks the bounded evidence sample (earliest first, ties by source
file and line) and sorts list entities. Python only touches one row per finding: the
fingerprint, the reason sentence and JSON-able evidence values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

import duckdb

from leakaudit.errors import ConfigError, RuleError
from leakaudit.findings import (
    EntityValue,
    Evidence,
    Exposure,
    Finding,
    RuleOutcome,
    fingerprint,
    format_ts,
)
from leakaudit.progress import Progress, SilentProgress
from leakaudit.rules.loader import apply_semantics
from leakaudit.rules.model import Pack, Rule, format_param
from leakaudit.schema import SOURCE_FILE, SOURCE_LINE
from leakaudit.store import Store

EVIDENCE_LIMIT = 10
EXPOSURE_RECIPIENT = "exposure_recipient"
EXPOSURE_OWNER = "exposure_owner"
EXPOSURE_ITEM = "exposure_item"
EXPOSURE_VIEWED = "exposure_viewed"
# Bound next to the rule's own parameters; rule parameter names cannot start with "_".
_LIMIT_PARAM = "__evidence_limit"
# Marks the first copy of each source row (see `wrap_rule_sql`); not a name a rule returns.
_FIRST_COPY = "__leakaudit_first_copy"
_NONE = "(none)"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def without_final_semicolon(sql: str) -> str:
    """`sql` without the `;` that may end it, even when comments follow it.

    The validator binds the SQL as written, which accepts `…; -- end`; inside the CTE of
    `wrap_rule_sql` that semicolon is a syntax error. DuckDB's own tokenizer finds it, so a
    `;` in a string literal or a comment is left alone (its offsets count UTF-8 bytes).
    """
    text = sql.encode("utf-8")
    starts = [start for start, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    if starts and text[starts[-1] : starts[-1] + 1] == b";":
        return (text[: starts[-1]] + text[starts[-1] + 1 :]).decode("utf-8")
    return sql


def wrap_rule_sql(rule: Rule, columns: Mapping[str, str]) -> str:
    """The rule's SQL as a CTE, grouped into one row per finding.

    `columns` maps the rule's output columns to their DuckDB types: list-typed entities are
    sorted before grouping, exposure columns are counted only when the rule returns them.
    Collected entities (`rule.collect`) are built once per finding from their column, so a
    burst of 13,000 recipients is not a 13,000-name list on each of its rows.
    A source row the SQL returns more than once for one finding (an access exposing two
    owners of a duplicate id is one row per owner) is one event: it counts once in
    `event_count` and shows once in the evidence, while every copy counts for exposure.
    A copy is the same file and line at the same event time: a kept database can hold two
    versions of one file (rewritten in place, or grown and read again), whose line 2 may be
    another event, or the same one twice. (Not the evidence columns: LAM003 and LAM004 show
    the owner, which differs between the copies of one access.)
    """
    keys = []
    for name in rule.grouping_entities:
        col = quote_ident(name)
        is_list = columns.get(name, "").endswith("[]")
        keys.append(f"list_sort({col})" if is_list else col)
    entity_exprs = [
        f"{key} AS {quote_ident(name)}" if key != quote_ident(name) else key
        for key, name in zip(keys, rule.grouping_entities, strict=True)
    ]
    once = f"FILTER (WHERE {_FIRST_COPY})"
    aggregates = [
        f"list_sort(list(DISTINCT {quote_ident(column)})) AS {quote_ident(name)}"
        for name, column in rule.collect.items()
    ]
    aggregates += [
        f"count(*) {once} AS event_count",
        "min(event_ts) AS first_seen",
        "max(event_ts) AS last_seen",
    ]
    exposure = {
        "recipient_accounts": EXPOSURE_RECIPIENT,
        "owner_accounts": EXPOSURE_OWNER,
        "items_delivered": EXPOSURE_ITEM,
    }
    for out, col in exposure.items():
        if col in columns:
            aggregates.append(f"count(DISTINCT {quote_ident(col)}) AS {out}")
    if EXPOSURE_ITEM in columns and EXPOSURE_VIEWED in columns:
        aggregates.append(
            f"count(DISTINCT {quote_ident(EXPOSURE_ITEM)}) "
            f"FILTER (WHERE {quote_ident(EXPOSURE_VIEWED)}) AS items_viewed"
        )
    fields = [
        f"'source_file': {quote_ident(SOURCE_FILE)}",
        f"'source_line': {quote_ident(SOURCE_LINE)}",
    ]
    if rule.evidence:
        row = ", ".join(f"{quote_literal(c)}: {quote_ident(c)}" for c in rule.evidence)
        fields.append(f"'row': {{{row}}}")
    aggregates.append(
        f"list({{{', '.join(fields)}}} "
        f"ORDER BY event_ts, {quote_ident(SOURCE_FILE)}, {quote_ident(SOURCE_LINE)}) {once}"
        f"[1:${_LIMIT_PARAM}] AS evidence"
    )
    select = ",\n    ".join([*entity_exprs, *aggregates])
    source_row = ", ".join([*keys, quote_ident(SOURCE_FILE), quote_ident(SOURCE_LINE), "event_ts"])
    # Of the copies of one source row, the evidence shows the first by these columns.
    order = ", ".join(f"{quote_ident(c)} NULLS FIRST" for c in rule.evidence) or "event_ts"
    return (
        f"WITH offending AS (\n{without_final_semicolon(rule.query)}\n),\n"
        f"numbered AS (\n    SELECT *, row_number() OVER "
        f"(PARTITION BY {source_row} ORDER BY {order}) = 1 AS {_FIRST_COPY}\n"
        f"    FROM offending\n)\n"
        f"SELECT\n    {select}\nFROM numbered\nGROUP BY ALL"
    )


def rule_params(rule: Rule, overrides: Mapping[str, object] | None) -> dict[str, Any]:
    """The rule's defaults with overrides applied, each checked against its declared type."""
    values = rule.defaults()
    for name, value in (overrides or {}).items():
        param = rule.params.get(name)
        if param is None:
            raise ConfigError(
                f"Rule {rule.id} has no parameter {name!r}"
                + (f" (it declares: {', '.join(rule.params)})." if rule.params else ".")
            )
        try:
            values[name] = param.coerce(value)
        except ValueError as exc:
            raise ConfigError(f"Parameter {rule.id}.{name}: {exc}.") from exc
    return values


def _outcome(rule: Rule, values: Mapping[str, Any]) -> RuleOutcome:
    return RuleOutcome(
        rule_id=rule.id,
        pack=rule.pack,
        category=rule.category,
        severity=rule.severity,
        title=rule.title,
        description=rule.description,
        rationale=rule.rationale,
        remediation=rule.remediation,
        references=list(rule.references),
        tags=list(rule.tags),
        params={k: format_param(v) for k, v in values.items()},
    )


def missing_tables(store: Store, rule: Rule) -> list[str]:
    """The rule's required tables that hold no rows: the honest reason to skip it."""
    return [t for t in rule.requires if store.table_rows(t) == 0]


def run_rule(
    store: Store,
    rule: Rule,
    overrides: Mapping[str, object] | None = None,
    *,
    evidence_limit: int = EVIDENCE_LIMIT,
) -> tuple[list[Finding], RuleOutcome]:
    """One rule on a store whose shared semantics are already applied."""
    values = rule_params(rule, overrides)
    outcome = _outcome(rule, values)
    started = time.perf_counter()
    empty = missing_tables(store, rule)
    if empty:
        outcome.status = "skipped"
        outcome.skipped_reason = "needs " + " and ".join(empty)
        outcome.duration_s = time.perf_counter() - started
        return [], outcome
    try:
        described = store.con.execute(f"DESCRIBE {rule.query}", values).fetchall()
        columns = {row[0]: str(row[1]) for row in described}
        cursor = store.con.execute(
            wrap_rule_sql(rule, columns), {**values, _LIMIT_PARAM: evidence_limit}
        )
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        raise RuleError(f"Rule {rule.id} failed: {message}", rule.query_path or rule.path) from exc
    findings = [_finding(rule, dict(zip(names, row, strict=True))) for row in rows]
    findings.sort(key=Finding.sort_key)
    outcome.findings = len(findings)
    outcome.duration_s = time.perf_counter() - started
    return findings, outcome


def _entity_value(value: object) -> EntityValue:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return sorted(_NONE if v is None else str(_jsonable(v)) for v in value)
    return str(_jsonable(value))


def _jsonable(value: object) -> Any:
    """Evidence values as JSON-able values, timestamps in the one output form.

    A rule may return any DuckDB type; what JSON has no form for (TIME, UUID, NaN and
    infinite numbers, which `json.dumps` would write as invalid JSON) becomes its text.
    """
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date | time_of_day):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def times(count: int) -> str:
    """`{times}` in a reason: "once", else "N times", never "1 times"."""
    return "once" if count == 1 else f"{count} times"


def _finding(rule: Rule, row: dict[str, Any]) -> Finding:
    entities = {name: _entity_value(row[name]) for name in rule.entities}
    first_seen, last_seen = row["first_seen"], row["last_seen"]
    placeholders: dict[str, object] = {
        name: ", ".join(value) if isinstance(value, list) else (value or _NONE)
        for name, value in entities.items()
    }
    placeholders.update(
        first_seen=format_ts(first_seen) or _NONE,
        last_seen=format_ts(last_seen) or _NONE,
        event_count=row["event_count"],
        times=times(int(row["event_count"])),
    )
    return Finding(
        fingerprint=fingerprint(rule.id, entities),
        rule_id=rule.id,
        pack=rule.pack,
        category=rule.category,
        severity=rule.severity,
        title=rule.title,
        reason=rule.reason.format_map(placeholders),
        first_seen=first_seen,
        last_seen=last_seen,
        event_count=int(row["event_count"]),
        entities=entities,
        exposure=Exposure(
            recipient_accounts=row.get("recipient_accounts"),
            owner_accounts=row.get("owner_accounts"),
            items_delivered=row.get("items_delivered"),
            items_viewed=row.get("items_viewed"),
        ),
        evidence=[
            Evidence(
                source_file=e["source_file"],
                source_line=int(e["source_line"]),
                row=_jsonable(e.get("row") or {}),
            )
            for e in row["evidence"]
        ],
    )


def run_rules(
    store: Store,
    packs: Iterable[Pack],
    params: Mapping[str, Mapping[str, object]] | None = None,
    progress: Progress | None = None,
    *,
    evidence_limit: int = EVIDENCE_LIMIT,
) -> tuple[list[Finding], list[RuleOutcome]]:
    """Every rule of `packs` on `store`: shared semantics once, then each rule in order.

    `params` maps rule id to parameter overrides (typed values or strings, as from
    `parse_param_overrides`). Findings come back in deterministic report order.
    """
    rules = [rule for pack in packs for rule in pack.rules]
    params = params or {}
    known = {rule.id for rule in rules}
    for rule_id in params:
        if rule_id not in known:
            raise ConfigError(f"Parameters given for rule {rule_id}, which is not selected.")
    progress = progress or SilentProgress()
    apply_semantics(store)
    findings: list[Finding] = []
    outcomes: list[RuleOutcome] = []
    progress.start("Running rules", total=len(rules))
    try:
        for rule in rules:
            found, outcome = run_rule(
                store, rule, params.get(rule.id), evidence_limit=evidence_limit
            )
            findings.extend(found)
            outcomes.append(outcome)
            progress.advance(1)
    finally:
        progress.finish()
    findings.sort(key=Finding.sort_key)
    return findings, outcomes
