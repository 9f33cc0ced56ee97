"""Hypothesis properties of ingest.

(a) the same random rows written as CSV, JSON Lines and Parquet ingest to the same values;
(b) corrupting random lines of a CSV or JSON Lines file quarantines exactly those lines, with
    their physical line numbers, and ingests every other row;
(c) JSON Lines whose lines differ in key order, omitted keys and unknown keys ingest the same
    values, with exactly the unknown keys in `_extra`.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakaudit.ingest import ingest_paths
from leakaudit.store import Store
from tests.ingest_helpers import FORMATS, write_table

COLUMNS = ["ts", "account_id", "device_id", "action", "bytes", "user_agent"]

# Printable text with quotes, commas, markup, non-ASCII and (for property a) newlines.
cell_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00")
        | st.sampled_from([",", '"', "\n", "'", "=", "<", ">"]),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
one_line_text = cell_text.map(lambda s: s.replace("\n", " ").strip()).filter(bool)
offsets = st.sampled_from([None, 0, 60, -330, 120, 525])
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def access_rows(draw, text=cell_text, min_size=1, max_size=8):
    rows, expected = [], []
    for _ in range(draw(st.integers(min_size, max_size))):
        moment, offset = draw(moments), draw(offsets)
        if offset is None:
            ts_text, ts_utc = moment.isoformat(), moment.replace(tzinfo=UTC)
        else:
            zone = timezone(timedelta(minutes=offset))
            ts_text = moment.replace(tzinfo=zone).isoformat()
            ts_utc = moment.replace(tzinfo=zone).astimezone(UTC)
        action = draw(st.sampled_from(["notify", "CLIP", "Live", "snapshot"]))
        size = draw(st.none() | st.integers(0, 2**40))
        agent = draw(st.none() | text)
        row = {
            "ts": ts_text,
            "account_id": draw(text),
            "device_id": draw(text),
            "action": action,
            "bytes": None if size is None else str(size),
            "user_agent": agent,
        }
        rows.append(row)
        expected.append((ts_utc, row["account_id"], row["device_id"], action.lower(), size, agent))
    return rows, expected


def _ingested(path: Path) -> list[tuple]:
    with Store.open(":memory:") as store:
        ingest_paths(store, [path])
        return store.con.execute(
            "SELECT ts, account_id, device_id, action, bytes, user_agent "
            "FROM access_events ORDER BY _source_line"
        ).fetchall()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(access_rows())
def test_csv_jsonl_and_parquet_ingest_to_the_same_values(data):
    rows, expected = data
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            path = write_table(Path(tmp), f"access_events-{fmt}", rows, fmt, columns=COLUMNS)
            assert _ingested(path) == expected, fmt


def _csv_line(values: list[str | None]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


CORRUPTIONS = {
    "csv": [
        lambda v: _csv_line(["not-a-time", *v[1:]]),
        lambda v: _csv_line([v[0], v[1], "", *v[3:]]),
        lambda v: _csv_line([*v, "surplus"]),
        lambda v: _csv_line([*v[:4], "12 bytes", v[5]]),
    ],
    "jsonl": [
        lambda v: json.dumps(dict(zip(COLUMNS, ["2024-99-99", *v[1:]], strict=True))),
        lambda v: json.dumps(dict(zip(COLUMNS, v, strict=True)))[:-1],
        lambda v: json.dumps(v),
        lambda v: json.dumps({**dict(zip(COLUMNS, v, strict=True)), "account_id": None}),
        lambda v: json.dumps({**dict(zip(COLUMNS, v, strict=True)), "device_id": {"x": 1}}),
    ],
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["csv", "jsonl"]),
    access_rows(text=one_line_text, max_size=15),
    st.data(),
)
def test_corrupted_lines_are_quarantined_exactly(fmt, data, draw):
    rows, expected = data
    values = [[r[c] for c in COLUMNS] for r in rows]
    bad = draw.draw(st.sets(st.integers(0, len(rows) - 1)))
    blanks_after = draw.draw(st.sets(st.integers(0, len(rows) - 1)))
    lines = [",".join(COLUMNS)] if fmt == "csv" else []
    bad_lines, good_expected = [], []
    for i, v in enumerate(values):
        if i in bad:
            kind = draw.draw(st.sampled_from(CORRUPTIONS[fmt]))
            lines.append(kind(v))
            bad_lines.append(len(lines))
        else:
            lines.append(
                _csv_line(v) if fmt == "csv" else json.dumps(dict(zip(COLUMNS, v, strict=True)))
            )
            good_expected.append((len(lines), *expected[i]))
        if i in blanks_after:
            lines.append("")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"access_events.{fmt}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with Store.open(":memory:") as store:
            report = ingest_paths(store, [path])
            quarantined = store.con.execute(
                "SELECT source_line, raw FROM quarantine ORDER BY 1"
            ).fetchall()
            ingested = store.con.execute(
                "SELECT _source_line, ts, account_id, device_id, action, bytes, user_agent "
                "FROM access_events ORDER BY 1"
            ).fetchall()
    assert [q[0] for q in quarantined] == bad_lines
    assert [q[1] for q in quarantined] == [lines[n - 1] for n in bad_lines]
    assert ingested == good_expected
    assert (report.rows, report.rejected) == (len(good_expected), len(bad_lines))


extra_values = st.none() | st.integers(-5, 5) | one_line_text | st.just({"k": [1]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(access_rows(text=one_line_text), st.data())
def test_json_lines_of_mixed_shapes_keep_values_and_unknown_keys(data, draw):
    """The loader takes a shortcut for lines with the first line's keys; lines in another
    order, without their null-valued keys, or with unknown keys take the long way."""
    rows, expected = data
    lines, extras = [], []
    for row in rows:
        pairs = list(row.items())
        if draw.draw(st.booleans()):  # a null value may also be left out
            pairs = [(k, v) for k, v in pairs if v is not None]
        unknown = draw.draw(st.dictionaries(st.sampled_from(["zz", "Note", "ts2"]), extra_values))
        pairs += list(unknown.items())
        pairs = draw.draw(st.permutations(pairs))
        lines.append(json.dumps(dict(pairs)))
        extras.append(unknown or None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access_events.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with Store.open(":memory:") as store:
            ingest_paths(store, [path])
            got = store.con.execute(
                "SELECT ts, account_id, device_id, action, bytes, user_agent, _extra "
                "FROM access_events ORDER BY _source_line"
            ).fetchall()
    assert [g[:6] for g in got] == expected
    assert [json.loads(g[6]) if g[6] else None for g in got] == extras
