"""Ingest: formats, compression, column matching, quarantine, idempotence, atomicity."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from leakaudit.errors import InputError, StrictModeError
from leakaudit.ingest import ingest_paths, ingest_records
from leakaudit.store import Store
from tests.ingest_helpers import COMPRESSIONS, FORMATS, cut_line, write_table

ROWS = [
    {
        "ts": "2024-06-01T10:00:00+02:00",
        "account_id": "A-1",
        "device_id": "cam-1",
        "action": "CLIP",
        "bytes": "1200",
        "user_agent": "app/1.0",
    },
    {
        "ts": "2024-06-01T09:30:00Z",
        "account_id": "A-2",
        "device_id": "cam-2",
        "action": "notify",
        "bytes": None,
        "user_agent": "<script>alert(1)</script>",
    },
    {
        "ts": "2024-06-01 11:00:00",
        "account_id": "A-1",
        "device_id": "cam-1",
        "action": "live",
        "bytes": "7",
        "user_agent": None,
    },
]
EXPECTED = [
    (datetime(2024, 6, 1, 8, 0, tzinfo=UTC), "A-1", "cam-1", "clip", "served", 1200, "app/1.0"),
    (
        datetime(2024, 6, 1, 9, 30, tzinfo=UTC),
        "A-2",
        "cam-2",
        "notify",
        "served",
        None,
        "<script>alert(1)</script>",
    ),
    (datetime(2024, 6, 1, 11, 0, tzinfo=UTC), "A-1", "cam-1", "live", "served", 7, None),
]
SELECT = """
    SELECT ts, account_id, device_id, action, outcome, bytes, user_agent
    FROM access_events ORDER BY _source_line
"""


@pytest.fixture
def store():
    with Store.open(":memory:") as s:
        yield s


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_compression_ingests_the_same_values(tmp_path, store, fmt, compression):
    path = write_table(tmp_path, "access_events", ROWS, fmt, compression=compression)
    report = ingest_paths(store, [path])
    assert [(f.rows, f.rejected) for f in report.files] == [(3, 0)]
    assert store.con.execute(SELECT).fetchall() == EXPECTED
    lines = [r[0] for r in store.con.execute("SELECT _source_line FROM access_events").fetchall()]
    assert sorted(lines) == ([2, 3, 4] if fmt == "csv" else [1, 2, 3])


def test_headers_match_case_insensitively_and_unknown_columns_are_kept(tmp_path, store):
    rows = [
        {
            "TS": "2024-06-01T10:00:00Z",
            "Account_ID": "A-1",
            "DEVICE_ID": "cam-1",
            "Action": "Snapshot",
            "Firmware_Build": "=1+2",
            "room": "nursery",
        }
    ]
    ingest_paths(store, [write_table(tmp_path, "access_events", rows, "csv")])
    got = store.con.execute(
        "SELECT account_id, device_id, action, _extra->>'Firmware_Build', _extra->>'room' "
        "FROM access_events"
    ).fetchall()
    assert got == [("A-1", "cam-1", "snapshot", "=1+2", "nursery")]
    assert store.con.execute("SELECT extra_columns FROM ingest_log").fetchall() == [
        (["Firmware_Build", "room"],)
    ]


def test_table_comes_from_name_or_folder_or_as(tmp_path, store):
    folder = tmp_path / "staff_access"
    folder.mkdir()
    row = [{"ts": "2024-06-01T10:00:00Z", "staff_id": "st-1", "action": "lookup"}]
    write_table(folder, "part-0001", row, "jsonl")
    write_table(tmp_path, "staff-2024-06-01", [{"staff_id": "st-1"}], "csv")
    export = write_table(tmp_path, "export", [{"staff_id": "st-2"}], "csv")
    (tmp_path / "README.md").write_text("not an input")
    report = ingest_paths(store, [folder, tmp_path / "staff-2024-06-01.csv"])
    assert [(f.path.split("/")[-1], f.table) for f in report.files] == [
        ("part-0001.jsonl", "staff_access"),
        ("staff-2024-06-01.csv", "staff"),
    ]
    assert ingest_paths(store, [export], as_table="staff").files[0].rows == 1
    with pytest.raises(InputError, match="Cannot tell which table"):
        ingest_paths(store, [write_table(tmp_path, "export2", [{"staff_id": "x"}], "csv")])


def test_missing_required_column_names_file_and_column(tmp_path, store):
    path = write_table(tmp_path, "devices", [{"device_id": "cam-1", "account_id": "A"}], "csv")
    with pytest.raises(InputError) as info:
        ingest_paths(store, [path])
    assert str(info.value) == (
        f'{path}:1: missing required column "registered_at" for table devices '
        "(columns found: device_id, account_id)"
    )


def test_bad_rows_are_quarantined_with_their_physical_lines(tmp_path, store):
    path = tmp_path / "devices.csv"
    path.write_text(
        "device_id,account_id,registered_at,note\n"  # 1
        'cam-1,A,2024-01-01T00:00:00Z,"two\n'  # 2
        'lines"\n'  # 3
        "\n"  # 4
        "cam-2,B,yesterday,x\n"  # 5
        ",C,2024-01-01,x\n"  # 6
        "cam-4,D,2024-01-01,x,surplus\n"  # 7
        'cam-5,E,2024-01-02,"a ""quoted"" word"\n'  # 8
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 3)
    assert store.con.execute(
        "SELECT device_id, _source_line FROM devices ORDER BY 2"
    ).fetchall() == [("cam-1", 2), ("cam-5", 8)]
    assert store.con.execute(
        "SELECT source_line, reason, raw FROM quarantine ORDER BY 1"
    ).fetchall() == [
        (
            5,
            "column \"registered_at\": 'yesterday' is not an ISO-8601 timestamp",
            "cam-2,B,yesterday,x",
        ),
        (6, 'missing required value in column "device_id"', ",C,2024-01-01,x"),
        (
            7,
            "malformed CSV record (too many columns): Expected Number of Columns: 4 Found: 5",
            "cam-4,D,2024-01-01,x,surplus",
        ),
    ]


def test_jsonl_bad_lines_and_blank_lines(tmp_path, store):
    path = tmp_path / "consents.jsonl"
    path.write_bytes(
        b'{"account_id": "A", "scope": "Media", "granted_at": "2024-01-01T00:00:00Z"}\n'  # 1
        b"\n"  # 2
        b'{"account_id": "A", "scope": "media"\n'  # 3
        b'["A", "media"]\n'  # 4
        b'{"account_id": ["A"], "scope": "media", "granted_at": "2024-01-01"}\n'  # 5
        b'{"account_id": "B", "scope": "live", "granted_at": 5}\n'  # 6
        b'{"account_id": "\xff", "scope": "live", "granted_at": "2024-01-01"}\n'  # 7
        b'{"account_id": "C", "scope": "nope", "granted_at": "2024-01-01"}'  # 8
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 5)
    assert store.con.execute(
        "SELECT account_id, scope, grantee, _source_line FROM consents ORDER BY 4"
    ).fetchall() == [("A", "media", "*", 1), ("C", "nope", "*", 8)]
    assert store.con.execute(
        "SELECT source_line, reason FROM quarantine ORDER BY 1"
    ).fetchall() == [
        (3, "malformed JSON"),
        (4, "JSON value is array, not an object"),
        (5, 'column "account_id" holds a JSON array, not a value'),
        (6, "column \"granted_at\": '5' is not an ISO-8601 timestamp"),
        (7, "line is not valid UTF-8"),
    ]
    assert report.files[0].unknown_values == {"scope": {"nope": 1}}


def test_reingesting_the_same_file_adds_nothing(tmp_path, store):
    path = write_table(tmp_path, "access_events", ROWS, "jsonl")
    copy = tmp_path / "copy" / "access_events.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    first = ingest_paths(store, [path])
    again = ingest_paths(store, [path, copy])
    assert [f.skipped for f in first.files] == [False]
    assert [f.skipped for f in again.files] == [True, True]
    assert store.table_rows("access_events") == 3
    assert store.con.execute("SELECT count(*) FROM ingest_log").fetchall() == [(1,)]


def _counts(store: Store) -> tuple[int, int, int]:
    return (
        store.table_rows("access_events"),
        store.table_rows("devices"),
        store.con.execute("SELECT count(*) FROM ingest_log").fetchall()[0][0],
    )


def test_a_failure_mid_ingest_leaves_the_database_as_it_was(tmp_path, store, monkeypatch):
    ingest_paths(store, [write_table(tmp_path, "access_events", ROWS[:1], "csv")])
    before = _counts(store)
    batch = tmp_path / "batch"
    batch.mkdir()
    write_table(batch, "access_events", ROWS, "jsonl")
    write_table(
        batch,
        "devices",
        [{"device_id": "d", "account_id": "a", "registered_at": "2024-01-01"}],
        "csv",
    )
    import leakaudit.ingest as ingest_module

    real = ingest_module.load_staged
    calls = []

    def failing(con, staged, source, ingest_id):
        calls.append(source.table)
        if len(calls) == 2:
            raise RuntimeError("disk full (injected)")
        return real(con, staged, source, ingest_id)

    monkeypatch.setattr(ingest_module, "load_staged", failing)
    with pytest.raises(RuntimeError, match="injected"):
        ingest_paths(store, [batch])
    assert calls == ["access_events", "devices"]  # the first file was loaded, then rolled back
    assert _counts(store) == before


def test_strict_turns_quarantine_into_an_error_and_keeps_nothing(tmp_path, store):
    path = write_table(tmp_path, "access_events", [*ROWS, {**ROWS[0], "ts": "soon"}], "jsonl")
    with pytest.raises(StrictModeError) as info:
        ingest_paths(store, [path], strict=True)
    assert str(info.value) == (
        f"{path.as_posix()}:4: column \"ts\": 'soon' is not an ISO-8601 timestamp "
        "(1 row quarantined; --strict makes that an error, so nothing was ingested)"
    )
    assert _counts(store) == (0, 0, 0)


def test_ingest_records_uses_the_same_validation(store):
    result = ingest_records(
        store,
        "staff",
        [
            {
                "staff_id": "st-1",
                "kind": "Service",
                "active_from": datetime(2024, 1, 1, tzinfo=UTC),
            },
            {"staff_id": None},
        ],
        source="fixture",
    )
    assert (result.rows, result.rejected) == (1, 1)
    assert store.con.execute(
        "SELECT staff_id, kind, active_from, _source_file, _source_line FROM staff"
    ).fetchall() == [("st-1", "service", datetime(2024, 1, 1, tzinfo=UTC), "fixture", 1)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_fraction_is_not_an_integer_and_is_quarantined_not_rounded(tmp_path, store, fmt):
    # DuckDB casts '1.5' to the BIGINT 2: the row would say 2 bytes where the log said 1.5.
    values = ["1.5", "2.0", "1e3", "25e-1", "-0.5", "0x10"]
    rows = [{**ROWS[0], "bytes": value} for value in values]
    path = write_table(tmp_path, "access_events", rows, fmt)
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (3, 3)
    kept = store.con.execute("SELECT bytes FROM access_events ORDER BY _source_line")
    assert kept.fetchall() == [(2,), (1000,), (16,)]
    reasons = store.con.execute("SELECT reason FROM quarantine ORDER BY source_line")
    assert reasons.fetchall() == [
        (f"column \"bytes\": '{value}' is not an integer",) for value in ("1.5", "25e-1", "-0.5")
    ]


def test_a_parquet_float_column_keeps_whole_numbers_and_quarantines_fractions(tmp_path, store):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "access_events.parquet"
    columns = {k: pa.array([v] * 2, pa.string()) for k, v in ROWS[0].items() if k != "bytes"}
    pq.write_table(pa.table({**columns, "bytes": pa.array([1.5, 2.0])}), path)
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (1, 1)
    assert store.con.execute("SELECT bytes FROM access_events").fetchall() == [(2,)]
    assert store.con.execute("SELECT source_line, reason FROM quarantine").fetchall() == [
        (1, "column \"bytes\": '1.5' is not an integer")
    ]


def test_parquet_with_native_types(tmp_path, store):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "media.parquet"
    pq.write_table(
        pa.table(
            {
                "media_id": ["m1", "m2"],
                "device_id": ["cam-1", "cam-1"],
                "captured_at": pa.array([datetime(2024, 1, 1, 12), None], pa.timestamp("us")),
                "size": pa.array([10, 20], pa.int64()),
            }
        ),
        path,
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (1, 1)
    assert store.con.execute("SELECT media_id, captured_at, _extra FROM media").fetchall() == [
        ("m1", datetime(2024, 1, 1, 12, tzinfo=UTC), '{"size":10}')
    ]
    assert store.con.execute("SELECT source_line, reason, raw FROM quarantine").fetchall() == [
        (
            2,
            'missing required value in column "captured_at"',
            '{"media_id":"m2","device_id":"cam-1","captured_at":null,"size":20}',
        )
    ]


def test_unknown_input_and_missing_path(tmp_path, store):
    with pytest.raises(InputError, match="No such file or folder"):
        ingest_paths(store, [tmp_path / "nope.csv"])
    odd = tmp_path / "devices.xlsx"
    odd.write_text("x")
    with pytest.raises(InputError, match="Unknown input format"):
        ingest_paths(store, [odd])


def test_empty_csv_is_an_error(tmp_path, store):
    path = tmp_path / "devices.csv"
    path.write_text("")
    with pytest.raises(InputError, match="no header row"):
        ingest_paths(store, [path])


def test_jsonl_without_any_valid_object_quarantines_each_line(tmp_path, store):
    path = tmp_path / "media.jsonl"
    path.write_text('{"media_id": "m1"\n{}\n')
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (0, 2)
    assert store.con.execute(
        "SELECT source_line, reason FROM quarantine ORDER BY 1"
    ).fetchall() == [
        (1, "malformed JSON"),
        (2, 'missing required value in column "media_id"'),
    ]


def test_same_bytes_into_another_table_are_read_afresh(tmp_path, store):
    path = write_table(tmp_path, "devices", [{"staff_id": "st-1"}], "csv")
    ingest_paths(store, [path], as_table="staff")
    with pytest.raises(InputError, match='missing required column "device_id"'):
        ingest_paths(store, [path])  # not "already ingested": it was ingested as staff


def test_a_read_error_is_reported_not_masked(tmp_path, store):
    path = tmp_path / "media.jsonl.gz"
    cut = gzip.compress(b'{"media_id": "m1"}\n' * 1000)[:-20]
    path.write_bytes(cut)
    with pytest.raises(InputError) as info:
        ingest_paths(store, [path])
    assert "aborted" not in str(info.value)
    line = cut_line(cut, "gzip")
    assert str(info.value).startswith(f"{path}:{line}: The gzip file is cut off in this line")


def test_a_stray_quote_in_an_unquoted_field_does_not_stop_the_ingest(tmp_path, store):
    path = tmp_path / "access_events.csv"
    path.write_text(
        "ts,account_id,device_id,action,user_agent\n"
        '2024-01-01T00:00:00Z,A,D,clip,Mozilla "5.0\n'
        "2024-01-01T00:01:00Z,B,D,clip,curl\n"
        "soon,C,D,clip,curl\n"
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 1)
    assert store.con.execute(
        "SELECT user_agent, _source_line FROM access_events ORDER BY 2"
    ).fetchall() == [('Mozilla "5.0', 2), ("curl", 3)]
    assert store.con.execute("SELECT source_line FROM quarantine").fetchall() == [(4,)]


def test_a_bad_byte_below_the_header_is_a_bad_row_not_a_bad_header(tmp_path, store):
    path = tmp_path / "staff.csv"
    path.write_bytes(b"staff_id,team\nst-1,a\nst-\xff,b\nst-3,c\n")
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 1)
    assert store.con.execute("SELECT source_line FROM quarantine").fetchall() == [(3,)]


def test_jsonl_keys_spelled_differently_on_different_lines(tmp_path, store):
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        '{"Account_ID": "A", "partner": "nest", "linked_at": "2024-01-01"}\n'
        '{"account_id": "B", "PARTNER": "alexa", "Linked_At": "2024-01-02"}\n'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 0)
    assert store.con.execute(
        "SELECT account_id, partner, _extra FROM partner_links ORDER BY 1"
    ).fetchall() == [("A", "nest", None), ("B", "alexa", None)]


def _lines(store, table):
    return store.con.execute(
        f"SELECT _source_line, account_id FROM {table} ORDER BY _source_line"
    ).fetchall()


def test_csv_fast_path_numbers_lines_from_row_order(tmp_path, store):
    """One record per line: read straight into the table, lines from insertion order."""
    path = tmp_path / "partner_links.csv"
    path.write_text(
        "account_id,partner,linked_at\n"
        + "".join(f"A{i},nest,2024-01-01\n" for i in range(500))
        + "Z,alexa,2024-01-02"  # the last line has no newline
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (501, 0)
    lines = _lines(store, "partner_links")
    assert lines[0] == (2, "A0") and lines[-1] == (502, "Z")
    assert [n for n, _ in lines] == list(range(2, 503))


@pytest.mark.parametrize(
    "body",
    [
        'A,nest,2024-01-01\nB,"ne\nst",2024-01-01\nC,nest,2024-01-01\n',  # multi-line record
        "A,nest,2024-01-01\n\nB,nest,2024-01-01\nC,nest,2024-01-01\n",  # blank line
        "A,nest,2024-01-01\nB,nest,not-a-date\nC,nest,2024-01-01\n",  # a rejected row
        "A,nest,2024-01-01\nB,nest\nC,nest,2024-01-01\n",  # a malformed record
    ],
)
def test_csv_falls_back_to_exact_lines_when_records_and_lines_differ(tmp_path, store, body):
    path = tmp_path / "partner_links.csv"
    path.write_text("account_id,partner,linked_at\n" + body)
    ingest_paths(store, [path])
    lines = {a: n for n, a in _lines(store, "partner_links")}
    c_line = 2 + next(i for i, text in enumerate(body.split("\n")) if text.startswith("C"))
    assert lines["A"] == 2 and lines["C"] == c_line
    quarantined = store.con.execute("SELECT source_line FROM quarantine").fetchall()
    assert [n for n, a in _lines(store, "partner_links")] == sorted(lines.values())
    assert len(lines) + len(quarantined) == 3


def test_jsonl_keys_beyond_the_sample_are_kept_and_spellings_found(tmp_path, store, monkeypatch):
    """Keys are read from the file's start; a later line with another spelling of a table
    column, or an unknown key, is still read right."""
    import leakaudit.ingest.stage as stage

    monkeypatch.setattr(stage, "SAMPLE_BYTES", 64)
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        "".join(
            f'{{"account_id": "A{i}", "partner": "nest", "linked_at": "2024-01-01"}}\n'
            for i in range(5)
        )
        + '{"account_id": "B", "partner": "alexa", "linked_at": "2024-01-02", "note": "x"}\n'
        + '{"ACCOUNT_ID": "C", "partner": "alexa", "linked_at": "2024-01-02"}\n'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (7, 0)
    rows = store.con.execute(
        "SELECT account_id, _extra, _source_line FROM partner_links ORDER BY _source_line"
    ).fetchall()
    assert rows[5] == ("B", '{"note":"x"}', 6)
    assert rows[6] == ("C", None, 7)
    assert report.files[0].extra_columns == ["note"]


def test_jsonl_required_key_missing_from_the_sample_is_looked_for_further(
    tmp_path, store, monkeypatch
):
    import leakaudit.ingest.stage as stage

    monkeypatch.setattr(stage, "SAMPLE_BYTES", 16)
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        '{"account_id": "A", "partner": "nest"}\n'
        '{"account_id": "B", "partner": "nest", "linked_at": "2024-01-02"}\n'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (1, 1)
    assert store.con.execute("SELECT source_line, reason FROM quarantine").fetchall() == [
        (1, 'missing required value in column "linked_at"')
    ]


def test_values_are_trimmed_of_unicode_spaces_only(store):
    """Trim strips Unicode space separators (and nothing else) from both ends."""
    odd = ["\u00a0A-1\u3000", " A-2 ", "\tA-3\t", "A-4\u2009", "\u00e9A-5", "", " \u2003"]
    result = ingest_records(
        store,
        "partner_links",
        [{"account_id": "x", "partner": p, "linked_at": "2024-01-01"} for p in odd],
    )
    rows = store.con.execute("SELECT partner FROM partner_links ORDER BY _source_line")
    assert [r[0] for r in rows.fetchall()] == ["A-1", "A-2", "\tA-3\t", "A-4", "\u00e9A-5"]
    assert result.rejected == 2  # blank after trimming: a missing required value


def test_parquet_files_of_one_table_are_read_together_each_with_its_own_provenance(tmp_path, store):
    """A folder of Parquet files with the same columns is one parallel read; each row still
    names its own file and row, each file gets its own ingest_log row and counts."""
    folder = tmp_path / "partner_links"
    folder.mkdir()
    good = [{"account_id": f"A{i}", "partner": "nest", "linked_at": "2024-01-01"} for i in range(3)]
    bad = [*good[:1], {"account_id": "B", "partner": "nest", "linked_at": "not-a-date"}]
    write_table(folder, "a", good, "parquet")
    write_table(folder, "b", bad, "parquet")
    write_table(folder, "c", [{**good[0], "extra": "x"}], "parquet")  # other columns
    report = ingest_paths(store, [folder])
    assert [(f.path.rsplit("/", 1)[-1], f.rows, f.rejected) for f in report.files] == [
        ("a.parquet", 3, 0),
        ("b.parquet", 1, 1),
        ("c.parquet", 1, 0),
    ]
    rows = store.con.execute(
        """
        SELECT regexp_extract(p._source_file, '[abc][.]parquet'), p._source_line, p.account_id,
               l.path = p._source_file
        FROM partner_links p JOIN ingest_log l ON l.ingest_id = p._ingest_id
        ORDER BY 1, 2
        """
    ).fetchall()
    assert rows == [
        ("a.parquet", 1, "A0", True),
        ("a.parquet", 2, "A1", True),
        ("a.parquet", 3, "A2", True),
        ("b.parquet", 1, "A0", True),
        ("c.parquet", 1, "A0", True),
    ]
    quarantined = store.con.execute(
        "SELECT regexp_extract(source_file, '[abc][.]parquet'), source_line, reason FROM quarantine"
    ).fetchall()
    assert quarantined == [
        ("b.parquet", 2, "column \"linked_at\": 'not-a-date' is not an ISO-8601 timestamp")
    ]


@pytest.mark.parametrize(
    ("line", "extra", "reason"),
    [
        ('{"account_id":"A","partner":"p","linked_at":"2024-01-01"}', None, None),
        ('{"account_id":"A","partner":"p","linked_at":"2024-01-01","x":1}', {"x": 1}, None),
        ('{"account_id":"A","partner":"p","linked_at":"2024-01-01","x":null}', {"x": None}, None),
        (
            '{"account_id": "A", "partner": "p", "linked_at": "2024-01-01", "y": "z"}',
            {"y": "z"},
            None,
        ),
        ('{"account_id" : "A","partner":"p","linked_at":"2024-01-01"}', None, None),
        ('{"account_id":"A\\"x\\":1","partner":"p","linked_at":"2024-01-01"}', None, None),
        (
            '{"account_id":"A","partner":"p:{","linked_at":"2024-01-01","n":{"k":1}}',
            {"n": {"k": 1}},
            None,
        ),
        (
            '{"account_id":"A","partner": {"k":1},"linked_at":"2024-01-01"}',
            None,
            'column "partner" holds a JSON object, not a value',
        ),
        (
            '{"account_id":"A","partner":["p"],"linked_at":"2024-01-01"}',
            None,
            'column "partner" holds a JSON array, not a value',
        ),
        (' {"account_id":"A","partner":"p","linked_at":"2024-01-01"}', None, None),
        ('["account_id"]', None, "JSON value is array, not an object"),
        ('{"account_id":"A","partner":"p","linked_at":"2024-01-01"', None, "malformed JSON"),
        ('{"linked_at":"2024-01-01","account_id":"A","partner":"p"}', None, None),
        (
            '{"account_id":"A","partner":"p","linked_at":"2024-01-01","unlinked_at":null}',
            None,
            None,
        ),
        (
            '{"account_id":"A","partner":"p","unlinked_at":null,"linked_at":"2024-01-01"}',
            None,
            None,
        ),
        ('{"account_id":"A","partner":"[p]","linked_at":"2024-01-01"}', None, None),
        (
            '{"account_id":"A","partner":"p","linked_at":"2024-01-01","z":null,"unlinked_at":null}',
            {"z": None},
            None,
        ),
        (
            '{"account_id":"A","partner":null,"linked_at":"2024-01-01"}',
            None,
            'missing required value in column "partner"',
        ),
    ],
)
@pytest.mark.parametrize(
    "first", [None, '{"account_id":"F","partner":"f","linked_at":"2024-01-01"}']
)
def test_json_lines_of_every_shape_read_the_same(tmp_path, store, line, extra, reason, first):
    """Lines the loader reads the cheap way (compact, only scalar values, the first line's
    keys) and the others (spaces, escapes, nested values, other keys or order, not an
    object, malformed) give the same answers, as the file's first line or after one."""
    import json as json_module

    path = tmp_path / "partner_links.jsonl"
    path.write_text((first + "\n" if first else "") + line + "\n")
    ingest_paths(store, [path])
    n = 2 if first else 1
    if reason is None:
        got = store.con.execute(
            "SELECT account_id, _extra FROM partner_links WHERE _source_line = ?", [n]
        ).fetchall()
        assert len(got) == 1 and got[0][0].startswith("A")
        assert (json_module.loads(got[0][1]) if got[0][1] else None) == extra
    else:
        got = store.con.execute("SELECT source_line, reason FROM quarantine").fetchall()
        assert got == [(n, reason)]


@pytest.mark.parametrize("max_positioned", [1000, 2])
def test_csv_rows_rejected_in_a_one_line_per_record_file_keep_exact_lines(
    tmp_path, store, monkeypatch, max_positioned
):
    """Rejected rows are found by position in a second pass (or, past a limit, the file is
    read the exact way): either way every row and every rejected row has its line."""
    import leakaudit.ingest.load as load
    import leakaudit.ingest.stage as stage

    monkeypatch.setattr(load, "MAX_POSITIONED_REJECTS", max_positioned)
    exact_reads = []
    real_stage_csv = stage.stage_csv
    monkeypatch.setattr(stage, "stage_csv", lambda *a: exact_reads.append(1) or real_stage_csv(*a))
    bad = {0, 5, 6, 19}
    body = "".join(f"A{i},nest,{'not-a-date' if i in bad else '2024-01-01'}\n" for i in range(20))
    path = tmp_path / "partner_links.csv"
    path.write_text("account_id,partner,linked_at\n" + body)
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (16, 4)
    assert _lines(store, "partner_links") == [(i + 2, f"A{i}") for i in range(20) if i not in bad]
    assert store.con.execute(
        "SELECT source_line, raw FROM quarantine ORDER BY source_line"
    ).fetchall() == [(i + 2, f"A{i},nest,not-a-date") for i in sorted(bad)]
    assert len(exact_reads) == (0 if max_positioned >= len(bad) else 1)


def test_csv_with_blank_lines_before_its_header(tmp_path, store):
    path = tmp_path / "partner_links.csv"
    path.write_text("\n\naccount_id,partner,linked_at\nA,nest,2024-01-01\n")
    ingest_paths(store, [path])
    assert _lines(store, "partner_links") == [(4, "A")]


def test_file_names_with_glob_characters_are_read_as_themselves(tmp_path, store):
    """DuckDB's readers expand `[`, `*` and `?`: `a[1].csv` must not read `a1.csv`."""
    for fmt in ("csv", "parquet"):
        folder = tmp_path / fmt / "partner_links"
        folder.mkdir(parents=True)
        other = [{"account_id": "OTHER", "partner": "p", "linked_at": "2024-01-01"}]
        mine = [{"account_id": "MINE", "partner": "p", "linked_at": "2024-01-01"}]
        write_table(folder, "a1", other, fmt).rename(folder / f"a1.{fmt}")
        write_table(folder, "x", mine, fmt).rename(folder / f"a[1].{fmt}")
        ingest_paths(store, [folder / f"a[1].{fmt}"])
    rows = store.con.execute("SELECT account_id, _source_file FROM partner_links").fetchall()
    assert sorted(a for a, _ in rows) == ["MINE", "MINE"]
    assert all(f.endswith(("a[1].csv", "a[1].parquet")) for _, f in rows)


def test_parquet_in_hive_style_folders_keeps_its_own_columns(tmp_path, store):
    for day in ("dt=2024-01-01", "dt=2024-01-02"):
        (tmp_path / "partner_links" / day).mkdir(parents=True)
        rows = [{"account_id": day, "partner": "p", "linked_at": "2024-01-01"}]
        write_table(tmp_path / "partner_links" / day, "part", rows, "parquet")
    report = ingest_paths(store, [tmp_path / "partner_links"], as_table="partner_links")
    assert (report.rows, report.rejected) == (2, 0)
    assert store.con.execute("SELECT DISTINCT _extra FROM partner_links").fetchall() == [(None,)]


def test_a_parquet_group_read_error_names_the_group(tmp_path, store):
    folder = tmp_path / "partner_links"
    folder.mkdir()
    for name in ("p1", "p2", "p3"):
        rows = [
            {"account_id": f"{name}-{i}", "partner": "p", "linked_at": "2024-01-01"}
            for i in range(500)
        ]
        write_table(folder, name, rows, "parquet")
    data = bytearray((folder / "p3.parquet").read_bytes())
    data[100:400] = bytes(300)  # a data page; the footer stays readable
    (folder / "p3.parquet").write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [folder])
    assert "one of 3 Parquet files read together (p1.parquet … p3.parquet)" in str(caught.value)
    assert store.table_rows("partner_links") == 0


def test_report_and_ingest_ids_follow_the_input_order(tmp_path, store):
    folder = tmp_path / "partner_links"
    folder.mkdir()
    row = {"account_id": "A", "partner": "p", "linked_at": "2024-01-01"}
    write_table(folder, "p1", [row], "parquet")
    write_table(folder, "p2", [{**row, "extra": "x"}], "parquet")  # other columns
    write_table(folder, "p3", [{**row, "account_id": "B"}], "parquet")
    ingest_paths(store, [folder / "p3.parquet"])
    report = ingest_paths(store, [folder])
    assert [(f.path.rsplit("/", 1)[-1], f.skipped) for f in report.files] == [
        ("p1.parquet", False),
        ("p2.parquet", False),
        ("p3.parquet", True),
    ]
    logged = store.con.execute("SELECT path FROM ingest_log ORDER BY ingest_id").fetchall()
    assert [p.rsplit("/", 1)[-1] for (p,) in logged] == ["p3.parquet", "p1.parquet", "p2.parquet"]


def test_json_lines_with_an_empty_key_and_raw_text_ending_in_backslash_x0a(tmp_path, store):
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        '{"account_id":"A","partner":"p","linked_at":"2024-01-01","":1}\n'
        '{"account_id":"B","partner":"p","linked_at":"x","a":"\\x0A'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (1, 1)
    assert store.con.execute("SELECT _extra FROM partner_links").fetchall() == [('{"":1}',)]
    assert store.con.execute("SELECT raw FROM quarantine").fetchall() == [
        ('{"account_id":"B","partner":"p","linked_at":"x","a":"\\x0A',)
    ]
