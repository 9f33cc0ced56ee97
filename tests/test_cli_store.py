"""`leakaudit ingest`, `query` and `status` through click's CliRunner: exact output, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from click.testing import CliRunner

from leakaudit import __version__
from leakaudit.cli.commands import cli
from tests.ingest_helpers import cut_line, write_table

DEVICES = [
    {"device_id": "cam-1", "account_id": "A-1", "registered_at": "2024-01-01T00:00:00Z"},
    {"device_id": "cam-2", "account_id": "A-2", "registered_at": "not a time"},
]
EVENTS = [
    {
        "ts": "2024-01-02T10:00:00+01:00",
        "account_id": "A-1",
        "device_id": "cam-1",
        "action": "clip",
    },
]


@pytest.fixture
def runner():
    return CliRunner(env={"COLUMNS": "120", "LEAKAUDIT_DB": None})


@pytest.fixture
def world(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_table(logs, "devices", DEVICES, "csv")
    write_table(logs, "access_events", EVENTS, "jsonl", compression="gzip")
    return logs


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (0, f"leakaudit, version {__version__}\n")


@pytest.mark.parametrize("command", [[], ["ingest"], ["query"], ["status"]])
def test_every_command_has_help_with_an_example(runner, command):
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output or "Example:" in result.output


def test_ingest_quiet_prints_one_summary_line(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    result = runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    assert (result.exit_code, result.output) == (
        0,
        "2 rows ingested from 2 files, 1 quarantined, 0 already ingested.\n",
    )
    again = runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    assert again.output == "0 rows ingested from 0 files, 0 quarantined, 2 already ingested.\n"


def test_ingest_shows_a_summary_table(runner, world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["ingest", "logs", "--db", "a.duckdb"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Ingested",
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━┳━━━━━━┓",
        "┃ file                        ┃ table         ┃ rows ┃ rejected ┃ note ┃",
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━╇━━━━━━┩",
        "│ logs/access_events.jsonl.gz │ access_events │    1 │        0 │      │",
        "│ logs/devices.csv            │ devices       │    1 │        1 │      │",
        "└─────────────────────────────┴───────────────┴──────┴──────────┴──────┘",
        "2 rows ingested from 2 files, 1 quarantined, 0 already ingested.",
    ]


def test_missing_required_column_is_exit_2_with_one_line(runner, tmp_path):
    path = write_table(tmp_path, "devices", [{"device_id": "cam-1", "account_id": "A"}], "csv")
    result = runner.invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "a.duckdb")])
    assert result.exit_code == 2
    assert result.output == (
        f'error: {path}:1: missing required column "registered_at" for table devices '
        "(columns found: device_id, account_id)\n"
    )


def test_ingesting_a_folder_without_input_files_is_exit_2(runner, tmp_path):
    (tmp_path / "logs").mkdir()
    result = runner.invoke(cli, ["ingest", str(tmp_path / "logs"), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {tmp_path / 'logs'}: No input files in this folder")


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        (
            b"account_id,partner,linked_at\r\nA,nest,2024-01-01\r\nB,ne\rst,2024-01-02\r\n",
            3,
            "a carriage return (\\r) in the middle of this line, outside quotes; "
            "quote the field or remove the character",
        ),
        (
            b"account_id,partner,linked_at\nA,nest,2024-01-01\r\nB,nest,2024-01-02\n",
            2,
            "this line ends with \\r but the file's first line with \\n alone; "
            "DuckDB's CSV reader needs one kind of line ending throughout",
        ),
        (
            b'account_id,partner,linked_at\r\nA,"ne\nst",2024-01-01\r\nB,x,2024-01-02\n',
            4,
            "this line ends with \\n alone but the file's first line with \\r\\n; "
            "DuckDB's CSV reader needs one kind of line ending throughout",
        ),
        (  # lines 3 and 4 are inside a quoted field: the quotes are followed across lines
            b'account_id,partner,linked_at\r\nA,"x\nmiddle\nend",2024-01-01\r\n'
            b"B,n\re,2024-01-02\r\n",
            5,
            "a carriage return (\\r) in the middle of this line, outside quotes; "
            "quote the field or remove the character",
        ),
        (  # the \r on line 3 is quoted data; line 4 is the one the reader stops at
            b'account_id,partner,linked_at\nA,"x\ny\rz",2024-01-01\nB,ne,2024-01-02\r\n'
            b"C,x,2024-01-03\n",
            4,
            "this line ends with \\r but the file's first line with \\n alone; "
            "DuckDB's CSV reader needs one kind of line ending throughout",
        ),
        (  # a blank line ending in \n alone counts too
            b"account_id,partner,linked_at\r\nA,x,2024-01-01\r\n\nB,x,2024-01-02\r\n",
            3,
            "this line ends with \\n alone but the file's first line with \\r\\n; "
            "DuckDB's CSV reader needs one kind of line ending throughout",
        ),
        (  # lines ending in \r alone: DuckDB would read them, but not line by line here
            b"account_id,partner,linked_at\rA,x,2024-01-01\rB,x,2024-01-02,extra\r",
            1,
            "its first line holds a carriage return (\\r) that does not end it; lines ending "
            "in \\r alone are not read (only \\n or \\r\\n): convert the file, e.g. with "
            "tr '\\r' '\\n'",
        ),
    ],
)
def test_csv_carriage_return_the_reader_stops_at_is_exit_2_naming_its_line(
    runner, tmp_path, body, line, problem
):
    """DuckDB's CSV reader stops at a `\\r` outside quotes that does not fit the file's line
    ending, without saying where; the error names the line, and nothing is kept."""
    db = str(tmp_path / "a.duckdb")
    path = tmp_path / "partner_links.csv"
    path.write_bytes(body)
    result = runner.invoke(cli, ["ingest", str(path), "--db", db, "--quiet"])
    assert result.exit_code == 2
    assert result.output == f"error: {path}:{line}: Cannot read this csv file: {problem}\n"
    assert not os.path.exists(db)  # nothing kept: the database this ingest made is gone


def test_truncated_gzip_csv_is_exit_2_naming_the_line_it_stops_in(runner, tmp_path):
    """DuckDB's CSV reader fails on the cut stream without a line; the one line shown names
    the line the data stops in (no traceback), and no database is left behind."""
    import gzip

    body = "account_id,partner,linked_at\n" + "".join(
        f"A{i},p{i * 7919 % 10007},2024-01-01\n" for i in range(150_000)
    )
    packed = gzip.compress(body.encode())
    path = tmp_path / "partner_links.csv.gz"
    cut = packed[: len(packed) * 3 // 4]
    path.write_bytes(cut)
    result = runner.invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "a.duckdb")])
    assert result.exit_code == 2
    assert result.output == (
        f"error: {path}:{cut_line(cut, 'gzip')}: The gzip file is cut off in this line "
        "(Truncated compressed stream); is the copy complete?\n"
    )
    assert not (tmp_path / "a.duckdb").exists()


def test_csv_carriage_return_inside_quotes_is_data(runner, tmp_path):
    db = str(tmp_path / "a.duckdb")
    path = tmp_path / "partner_links.csv"
    path.write_bytes(b'account_id,partner,linked_at\r\nB,"ne\rst",2024-01-02\r\n')
    assert runner.invoke(cli, ["ingest", str(path), "--db", db, "--quiet"]).exit_code == 0
    sql = "SELECT partner, _source_line AS n FROM partner_links"
    got = runner.invoke(cli, ["query", sql, "--db", db, "--format", "json"])
    assert got.output == '[{"partner":"ne\\rst","n":2}]\n'


def test_strict_is_exit_2(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    result = runner.invoke(cli, ["ingest", str(world), "--db", db, "--strict", "--quiet"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {world.as_posix()}/devices.csv:3: column ")
    assert not os.path.exists(db)  # nothing kept: the database this ingest made is gone


def test_query_formats_and_read_only(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = "SELECT device_id, account_id, ts FROM access_events"
    csv_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    assert csv_out.output == "device_id,account_id,ts\ncam-1,A-1,2024-01-02 09:00:00+00:00\n"
    json_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "json"])
    assert json.loads(json_out.output)[0]["device_id"] == "cam-1"
    jsonl_out = runner.invoke(
        cli, ["query", "SELECT 1 AS a UNION ALL SELECT 2", "--db", db, "--format", "jsonl"]
    )
    assert jsonl_out.output.splitlines() == ['{"a":1}', '{"a":2}']
    table_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "table"])
    assert "cam-1" in table_out.output and "┃ device_id" in table_out.output

    drop = runner.invoke(cli, ["query", "DROP TABLE devices", "--db", db])
    assert drop.exit_code == 2
    assert drop.output.startswith("error: Invalid Input Error: Cannot execute statement")
    survived = runner.invoke(cli, ["query", "SELECT count(*) AS n FROM devices", "--db", db])
    assert survived.output == "n\n1\n"


def test_query_values_are_exact_in_every_format(runner, world, tmp_path):
    """An integer column with a NULL stays integers (pandas would make 1441.0 of it and
    round ids past 2**53), a timestamp keeps its microseconds in JSON, and an interval
    (`max(ts) - min(ts)`: how long did it last?) is DuckDB's text, never a traceback."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = (
        "SELECT * FROM (VALUES (12345678901234567, TIMESTAMPTZ '2024-06-09 15:00:40.123456+00',"
        " INTERVAL 13 DAY + INTERVAL 5 MINUTE), (NULL, NULL, NULL)) AS t(n, ts, took)"
    )
    csv_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    assert (csv_out.exit_code, csv_out.output) == (
        0,
        "n,ts,took\n12345678901234567,2024-06-09 15:00:40.123456+00:00,13 days 00:05:00\n,,\n",
    )
    jsonl_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "jsonl"])
    assert (jsonl_out.exit_code, jsonl_out.output.splitlines()) == (
        0,
        [
            '{"n":12345678901234567,"ts":"2024-06-09T15:00:40.123456Z","took":"13 days 00:05:00"}',
            '{"n":null,"ts":null,"took":null}',
        ],
    )
    table_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "table"])
    assert table_out.exit_code == 0
    assert "12345678901234567" in table_out.output and "13 days 00:05:00" in table_out.output
    # A join names two columns alike; the CSV keeps both, neutralised, ints still ints.
    twice = "SELECT '=1' AS a, NULL::INTEGER AS a UNION ALL SELECT 'x', 7"
    csv_twice = runner.invoke(cli, ["query", twice, "--db", db, "--format", "csv"])
    assert (csv_twice.exit_code, csv_twice.output) == (0, "a,a\n'=1,\nx,7\n")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize(
    ("sql", "which"),
    [
        (
            "SELECT 1 AS account_id, 2 AS account_id, 3 AS n, 4 AS n, 5 AS ok",
            "Columns account_id, n appear",
        ),
        ("SELECT 1 AS account_id, 2 AS account_id, 5 AS ok", "Column account_id appears"),
    ],
)
def test_query_json_with_a_repeated_column_name_is_one_line_exit_2(
    runner, world, tmp_path, fmt, sql, which
):
    """`SELECT * FROM access_events JOIN devices ...` names account_id twice; a JSON object
    cannot hold both, so the user is told to alias them (it was a pandas traceback)."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", fmt])
    assert (result.exit_code, result.output) == (
        2,
        f"error: {which} more than once; --format json and jsonl need "
        "one name per column: alias them (SELECT a.account_id AS recipient, ...).\n",
    )


def test_query_sql_error_is_one_line_exit_2(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    result = runner.invoke(cli, ["query", "SELECT * FROM nope", "--db", db])
    assert (result.exit_code, result.output) == (
        2,
        'error: Catalog Error: Table with name nope does not exist! Did you mean "consents"?\n',
    )


@pytest.mark.parametrize(
    ("sql", "count"), [("SELECT 1 AS a; SELECT 2 AS b", 2), ("", 0), ("  ; -- nothing", 0)]
)
def test_query_takes_exactly_one_statement(runner, world, tmp_path, sql, count):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    result = runner.invoke(cli, ["query", sql, "--db", db])
    assert (result.exit_code, result.output) == (
        2,
        f"error: Give one SQL statement; this text holds {count}.\n",
    )


def test_query_without_a_database(runner, tmp_path):
    result = runner.invoke(cli, ["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2
    assert result.output == (
        f"error: {tmp_path / 'none.duckdb'}: No leakaudit database here; run `leakaudit ingest` "
        "first, or check the --db path.\n"
    )


def test_status(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    result = runner.invoke(cli, ["status", "--db", db])
    assert result.exit_code == 0
    out = result.output
    assert out.splitlines()[0] == f"Database {db} (schema version 1)"
    assert "│ devices       │    1 │ 2024-01-01T00:00:00Z │ 2024-01-01T00:00:00Z │" in out
    assert "│ access_events │    1 │ 2024-01-02T09:00:00Z │ 2024-01-02T09:00:00Z │" in out
    assert "│ devices │ column \"registered_at\": '…' is not an ISO-8601 timestamp │    1 │" in out


def test_api_query_returns_a_dataframe(world, tmp_path):
    from leakaudit import api

    db = tmp_path / "a.duckdb"
    api.ingest([world], db=db)
    frame = api.query("SELECT device_id, _source_file, _source_line FROM devices", db=db)
    assert frame.to_dict("records") == [
        {"device_id": "cam-1", "_source_file": f"{world.as_posix()}/devices.csv", "_source_line": 2}
    ]


def test_query_cannot_touch_other_files(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    target = tmp_path / "copy.csv"
    result = runner.invoke(cli, ["query", f"COPY (SELECT 1) TO '{target}'", "--db", db])
    assert result.exit_code == 2
    assert "file system operations are disabled" in result.output
    assert not target.exists()


def test_query_json_to_a_pipe_keeps_values_exact(runner, world, tmp_path):
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = "SELECT 'a' || chr(27) || '[2J' AS x"
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", "jsonl"])
    assert json.loads(result.output) == {"x": "a\x1b[2J"}


def test_query_csv_is_safe_to_open_in_a_spreadsheet(runner, tmp_path):
    """CSV has no escapes: a formula would run, and a bare CR would split the row (Python's
    csv quotes only line-terminator characters), so text cells are neutralised."""
    hostile = ['=HYPERLINK("http://x")', "x\r=SUM(1+1)", "a\x1b[2J", "-1+2", "@cmd", "plain"]
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        "".join(
            json.dumps({"account_id": value, "partner": "p", "linked_at": "2024-01-01"}) + "\n"
            for value in hostile
        )
    )
    db = str(tmp_path / "a.duckdb")
    assert runner.invoke(cli, ["ingest", str(path), "--db", db, "--quiet"]).exit_code == 0
    sql = "SELECT account_id, _source_line FROM partner_links ORDER BY _source_line"
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows == [
        ["account_id", "_source_line"],
        ['\'=HYPERLINK("http://x")', "1"],
        ["x\\x0d=SUM(1+1)", "2"],
        ["a\\x1b[2J", "3"],
        ["'-1+2", "4"],
        ["'@cmd", "5"],
        ["plain", "6"],
    ]


def test_query_csv_keeps_a_long_value_whole(runner, tmp_path):
    """A quarantined line of 40,000 characters (records run together without line ends) is
    exported whole: only the findings CSV cuts cells to a spreadsheet's 32,767."""
    path = tmp_path / "partner_links.jsonl"
    path.write_text('{"account_id": "A-1", "partner": "' + "p" * 40_000 + '", "linked_at": 1}\n')
    db = str(tmp_path / "a.duckdb")
    assert runner.invoke(cli, ["ingest", str(path), "--db", db, "--quiet"]).exit_code == 0
    sql = "SELECT raw FROM quarantine"
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    assert list(csv.reader(io.StringIO(result.output))) == [["raw"], [path.read_text()[:-1]]]


def test_query_lists_structs_and_maps_are_whole_json_in_csv_and_table(runner, world, tmp_path):
    """A list cell (`ingest_log.extra_columns`, `list(account_id)`) was written in CSV as
    numpy's repr: `['a' 'b']`, wrapped over lines and cut to `[0 1 2 ... 1999]` past 1,000
    items, so an exported list lost its values; the table format ended in a traceback and
    exit 70. Both now show such a cell as the JSON that `--format json` writes."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = (
        "SELECT (SELECT list(range ORDER BY range) FROM range(1500)) AS many, "
        "['=1', NULL] AS texts, []::INTEGER[] AS none, {'a': [1, 2]} AS s, "
        "map(['k'], [1.5::DOUBLE]) AS m"
    )
    csv_out = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    rows = list(csv.reader(io.StringIO(csv_out.output)))
    assert rows == [
        ["many", "texts", "none", "s", "m"],
        [json.dumps(list(range(1500))), '["=1", null]', "[]", '{"a": [1, 2]}', '[["k", 1.5]]'],
    ]
    small = "SELECT ['x', 'y'] AS pair, []::INTEGER[] AS none, {'a': 1} AS s"
    table_out = runner.invoke(cli, ["query", small, "--db", db, "--format", "table"])
    assert (table_out.exit_code, table_out.output) == (
        0,
        "┏━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━┓\n"
        "┃ pair       ┃ none ┃ s        ┃\n"
        "┡━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━┩\n"
        '│ ["x", "y"] │ []   │ {"a": 1} │\n'
        "└────────────┴──────┴──────────┘\n",
    )


def test_query_csv_header_is_as_safe_as_its_cells(runner, world, tmp_path):
    """A column name can come from the logs (`PIVOT access_events ON user_agent`): the
    header row of the CSV is neutralised like every other cell, ESC included."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = (
        "PIVOT (SELECT '=HYPERLINK(\"x\")' AS k, 1 AS v "
        "UNION ALL SELECT 'a' || chr(27) || '[2J', 2) ON k USING sum(v)"
    )
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", "csv"])
    assert (result.exit_code, list(csv.reader(io.StringIO(result.output)))) == (
        0,
        [['\'=HYPERLINK("x")', "a\\x1b[2J"], ["1", "2"]],
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", "d,t,ok,n\ninfinity,infinity,2024-01-01,1\n"),
        ("jsonl", '{"d":"infinity","t":"infinity","ok":"2024-01-01","n":1}\n'),
    ],
)
def test_query_a_date_python_cannot_hold_is_shown_as_duckdb_writes_it(
    runner, world, tmp_path, fmt, expected
):
    """Date arithmetic in an ad-hoc query can reach `infinity` or a year past 9999; pandas
    cannot hold it, and the query ended in a traceback and exit 70 ("a bug")."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = (
        "SELECT 'infinity'::DATE AS d, 'infinity'::TIMESTAMPTZ AS t, DATE '2024-01-01' AS ok, "
        "1 AS n"
    )
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", fmt])
    assert (result.exit_code, result.output) == (0, expected)
    twice = "SELECT 'infinity'::DATE AS d, 'infinity'::DATE AS d"
    result = runner.invoke(cli, ["query", twice, "--db", db, "--format", fmt])
    assert (result.exit_code, result.output) == (
        2,
        "error: A value of the result cannot be shown (year 5881580 is out of range); cast "
        "its column to VARCHAR in the query.\n",
    )


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_query_json_escapes_what_a_terminal_obeys_even_in_a_pipe(runner, world, tmp_path, fmt):
    """A raw U+009B (CSI) or U+2028 in the JSON text was obeyed by the terminal that later
    shows the file, and split a JSON Lines record; `\\u009b` is the same value to a parser."""
    db = str(tmp_path / "a.duckdb")
    runner.invoke(cli, ["ingest", str(world), "--db", db, "--quiet"])
    sql = "SELECT 'x' || chr(155) || '2J' || chr(8232) || chr(8238) AS a"
    result = runner.invoke(cli, ["query", sql, "--db", db, "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == (
        '[{"a":"x\\u009b2J\\u2028\\u202e"}]\n'
        if fmt == "json"
        else '{"a":"x\\u009b2J\\u2028\\u202e"}\n'
    )
    parsed = json.loads(result.stdout.splitlines()[0])
    assert (parsed[0] if fmt == "json" else parsed)["a"] == "x\u009b2J\u2028\u202e"
