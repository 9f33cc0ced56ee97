"""Ingest at its edges: unreadable files and folders, broken compressed streams, a column
named twice, nested Parquet values. Each is one clear line and exit 2, or a quarantined
row; never a traceback, and never a value dropped without a trace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leakaudit.errors import InputError
from leakaudit.ingest import ingest_paths
from leakaudit.store import Store
from tests.ingest_helpers import SUFFIX, compress, cut_line, write_table

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = REPO / "sample_logs"
# Root reads any file whatever its mode; without these two capabilities it cannot.
NO_ROOT_POWERS = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
    "--",
]


@pytest.fixture
def store():
    with Store.open(":memory:") as s:
        yield s


def _cli_as_a_user(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process that file permissions apply to (as root too)."""
    command = [sys.executable, "-c", "from leakaudit.cli.main import main; main()", *args]
    if os.geteuid() == 0:
        usable = shutil.which("setpriv") and (
            subprocess.run([*NO_ROOT_POWERS, "true"], capture_output=True).returncode == 0
        )
        if not usable:
            pytest.skip("running as root and setpriv cannot drop the capabilities")
        command = [*NO_ROOT_POWERS, *command]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("LEAKAUDIT_DB", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def restore_modes():
    """chmod'ed paths get their mode back, so pytest can remove tmp_path."""
    changed: list[Path] = []
    yield changed
    for path in changed:
        path.chmod(0o755)


def test_an_unreadable_file_in_a_folder_is_one_line_and_exit_2(tmp_path, restore_modes):
    folder = tmp_path / "dir"
    folder.mkdir()
    shutil.copy(SAMPLE_LOGS / "devices.csv", folder / "devices.csv")
    (folder / "devices.csv").chmod(0)
    restore_modes.append(folder / "devices.csv")
    result = _cli_as_a_user(["audit", "-q", "dir"], tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: dir/devices.csv: Cannot read this file: Permission denied.\n",
    )


def test_an_unreadable_subfolder_is_an_error_not_skipped(tmp_path, restore_modes):
    (tmp_path / "dir" / "sub" / "staff").mkdir(parents=True)
    shutil.copy(SAMPLE_LOGS / "staff.csv", tmp_path / "dir" / "sub" / "staff" / "staff.csv")
    shutil.copy(SAMPLE_LOGS / "devices.csv", tmp_path / "dir" / "devices.csv")
    (tmp_path / "dir" / "sub").chmod(0)
    restore_modes.append(tmp_path / "dir" / "sub")
    result = _cli_as_a_user(["ingest", "-q", "--db", "p.duckdb", "dir"], tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: dir/sub: Cannot read this folder: Permission denied.\n",
    )
    if (tmp_path / "p.duckdb").exists():  # the readable devices.csv was not ingested either
        with Store.open(tmp_path / "p.duckdb") as s:
            assert s.con.execute("SELECT count(*) FROM ingest_log").fetchall() == [(0,)]


def test_a_file_name_that_is_not_utf8_is_one_line_and_exit_2(tmp_path):
    # A name with bytes that are not UTF-8 (kept by Python as lone surrogates) cannot be opened
    # by the readers or recorded as text: refused by name, never a traceback and exit 1.
    folder = tmp_path / "dir" / "devices"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE_LOGS / "devices.csv", folder / os.fsdecode(b"\xff\xfe-\x1b[2J.csv"))
    result = _cli_as_a_user(["audit", "-q", "dir"], tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "error: dir/devices/\\xff\\xfe-\\x1b[2J.csv: The file name is not valid UTF-8; "
        "rename the file (its name is recorded as text with every row).\n",
    )


@pytest.mark.parametrize("given", ["devices.csv", "."])
@pytest.mark.parametrize("command", ["ingest", "audit"])
def test_a_named_pipe_is_refused_not_waited_on(tmp_path, command, given):
    # An input is read twice (its sha256, then its rows): a pipe would be empty the second
    # time, and with no writer its open() blocks where not even SIGTERM stops the run.
    # Inside a folder it is refused too: skipped, its log would be left out unsaid.
    (tmp_path / "in").mkdir()
    os.mkfifo(tmp_path / "in" / "devices.csv")
    command_line = [sys.executable, "-c", "from leakaudit.cli.main import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("LEAKAUDIT_DB", None)
    result = subprocess.run(
        [*command_line, command, "-q", "--db", "../p.duckdb", given],
        cwd=tmp_path / "in",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "error: devices.csv: Not a regular file (a named pipe, device or socket); an input "
        "is read more than once, so save it to a file first.\n",
    )
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["devices.csv", "in"]  # no database


def test_a_linked_subfolder_is_walked_once_and_a_link_loop_ends(tmp_path, store):
    archive = tmp_path / "archive" / "2024-06"
    archive.mkdir(parents=True)
    shutil.copy(SAMPLE_LOGS / "devices.csv", archive / "devices.csv")
    logs = tmp_path / "logs"
    (logs / "staff_access").mkdir(parents=True)
    staff = "staff_id,ts,action\nS-1,2024-01-02T10:00:00Z,lookup\n"
    (logs / "staff_access" / "part-0001.csv").write_text(staff)
    (logs / "2024-06").symlink_to(archive)  # a month moved to other storage
    (logs / "again").symlink_to(archive)  # the same folder twice
    (logs / "a-copy").symlink_to(logs / "staff_access")  # a second name inside the tree
    (archive / "up").symlink_to(logs)  # a loop back to the top
    (logs / "parent").symlink_to(tmp_path)  # a folder that holds the root
    (logs / "notes.sock").symlink_to(tmp_path / "gone")  # no input name: not an input
    report = ingest_paths(store, [logs])
    assert [Path(f.path).relative_to(logs).as_posix() for f in report.files] == [
        "staff_access/part-0001.csv",  # its own path, so its table is its folder's
        "2024-06/devices.csv",
    ]
    assert [f.table for f in report.files] == ["staff_access", "devices"]
    assert store.table_rows("staff_access") == 1
    assert store.table_rows("devices") > 0


def test_a_broken_link_named_like_an_input_is_refused(tmp_path, store):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(SAMPLE_LOGS / "devices.csv", logs / "devices.csv")
    (logs / "access_events.jsonl").symlink_to(tmp_path / "unmounted" / "events.jsonl")
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [logs])
    assert str(caught.value) == (
        f"{logs}/access_events.jsonl: A broken link: what it points to is not there."
    )
    assert store.table_rows("devices") == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_name_with_a_backslash_and_a_glob_character(tmp_path, store, fmt):
    """DuckDB's readers glob their path and take `\\` as a separator: no escape keeps such a
    CSV or Parquet name literal, so it is refused by name; JSON Lines is read by leakaudit
    itself and is ingested."""
    folder = tmp_path / "devices"
    folder.mkdir()
    write_table(folder, "devices", [{**DEVICE, "device_id": "cam-1"}], fmt)
    (path,) = folder.iterdir()
    weird = path.rename(folder / f"dev\\ic[e]s*.{path.name.split('.', 1)[1]}")
    if fmt == "jsonl":
        assert ingest_paths(store, [folder]).rows == store.table_rows("devices") == 1
        return
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [folder])
    assert str(caught.value) == (
        f"{weird}: DuckDB's CSV and Parquet readers cannot open a path that holds both a "
        "backslash and a glob character (* ? or [); rename the file or its folder."
    )


def _access_events_jsonl(n: int) -> bytes:
    return b"".join(
        b'{"ts":"2024-06-01T00:00:00Z","account_id":"a%d","device_id":"d","action":"clip"}\n' % i
        for i in range(n)
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize(
    "kept",
    [0.5, 0.01],  # cut while the load streams the file / while its first keys are read
)
def test_a_truncated_compressed_jsonl_file_names_the_line_it_stops_in(
    tmp_path, store, compression, kept
):
    data = compress(_access_events_jsonl(50_000), compression)
    path = tmp_path / f"access_events.jsonl{SUFFIX[compression]}"
    cut = data[: int(len(data) * kept)]
    path.write_bytes(cut)
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [path])
    line = cut_line(cut, compression)
    assert line < 50_000  # and > 1 but where zstd has not finished its first block
    assert str(caught.value) == (
        f"{path}:{line}: The {compression} file is cut off in this line (Truncated compressed "
        "stream); is the copy complete?"
    )
    assert store.table_rows("access_events") == 0


def test_a_compressed_file_with_another_fault_keeps_the_reader_message(tmp_path, store):
    """Only a stream that ends early is "cut off" in a line: after other faults (here bytes
    after the gzip end) the decompressor drops its failing step's output, so a line named
    would be a guess; the reader's own message stands."""
    path = tmp_path / "access_events.jsonl.gz"
    path.write_bytes(compress(_access_events_jsonl(50_000), "gzip") + b"\n\n")
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [path])
    assert str(caught.value) == (
        f"{path}: Cannot read this file: zlib inflate failed: incorrect header check"
    )


DEVICE = {"account_id": "A", "registered_at": "2024-01-01T00:00:00Z"}


def _parquet(path: Path, columns: dict[str, pa.Array]) -> Path:
    """A Parquet file with exactly these columns (names may repeat)."""
    pq.write_table(pa.Table.from_arrays(list(columns.values()), names=list(columns)), path)
    return path


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "device_id,Device_ID,account_id,registered_at",
            "column device_id appears twice (device_id, Device_ID)",
        ),
        (
            "device_id,account_id,registered_at,device_id",
            "column device_id appears twice (device_id, device_id)",
        ),
        (
            "device_id,account_id,registered_at, DEVICE_ID ,Device_Id",
            "column device_id appears 3 times (device_id,  DEVICE_ID , Device_Id)",
        ),
        ("device_id,account_id,registered_at,note,note", "column note appears twice (note, note)"),
    ],
)
def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path, store, header, message):
    path = tmp_path / "devices.csv"
    fields = header.count(",") + 1
    path.write_text(f"\n{header}\n" + ",".join(["cam-1", "A", "2024-01-01"] + ["x"] * (fields - 3)))
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [path])
    assert str(caught.value) == f"{path}:2: {message}"
    assert store.table_rows("devices") == 0


def test_a_csv_header_with_unknown_columns_differing_in_case_keeps_both(tmp_path, store):
    path = tmp_path / "devices.csv"
    path.write_text("device_id,account_id,registered_at,note,Note\ncam-1,A,2024-01-01,x,y\n")
    ingest_paths(store, [path])
    assert store.con.execute("SELECT _extra FROM devices").fetchall() == [
        ('{"note":"x","Note":"y"}',)
    ]


@pytest.mark.parametrize("bad_row", [False, True], ids=["fast path", "exact path"])
def test_unnamed_csv_columns_each_keep_their_values(tmp_path, store, bad_row):
    # An export's trailing commas: several header cells with no name are not one column
    # named twice; each is kept under its position, as DuckDB names it.
    path = tmp_path / "devices.csv"
    rows = "cam-1,A,2024-01-01,x,\ncam-2,B,2024-01-01,,y\n" + ("cam-3\n" if bad_row else "")
    path.write_text("device_id,account_id,registered_at,, \n" + rows)
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, int(bad_row))
    assert store.con.execute("SELECT _extra FROM devices ORDER BY device_id").fetchall() == [
        ('{"column4":"x","column5":null}',),
        ('{"column4":null,"column5":"y"}',),
    ]


@pytest.mark.parametrize("together", [False, True])
def test_a_parquet_file_naming_a_column_twice_is_refused(tmp_path, store, together):
    """Read alone or with others of its shape, the file's own names are checked: DuckDB
    renames the second `Device_ID` to `Device_ID_1`, which hid it in `_extra`."""
    folder = tmp_path / "devices"
    folder.mkdir()
    columns = {
        "device_id": pa.array(["cam-1"]),
        "Device_ID": pa.array(["cam-2"]),
        "account_id": pa.array(["A"]),
        "registered_at": pa.array(["2024-01-01"]),
    }
    paths = [_parquet(folder / f"part-{n}.parquet", columns) for n in range(1 + together)]
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [folder])
    assert (
        str(caught.value) == f"{paths[0]}:1: column device_id appears twice (device_id, Device_ID)"
    )
    assert store.table_rows("devices") == 0


def test_parquet_columns_are_the_files_own_names(tmp_path, store):
    """`a_1` stays `a_1` beside a nested column and a name DuckDB would rename."""
    path = _parquet(
        tmp_path / "devices.parquet",
        {
            "device_id": pa.array(["cam-1"]),
            "tags": pa.array([{"x": 1, "y": [2]}]),
            "account_id": pa.array(["A"]),
            "registered_at": pa.array(["2024-01-01"]),
            "Tags": pa.array(["t"]),
            "tags_1": pa.array(["u"]),
        },
    )
    ingest_paths(store, [path])
    assert store.con.execute("SELECT device_id, _extra FROM devices").fetchall() == [
        ("cam-1", '{"tags":{"x":1,"y":[2]},"Tags":"t","tags_1":"u"}')
    ]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pa.array([["A", "B"]]), "VARCHAR[] (a list)"),
        (pa.array([{"id": "A"}]), "STRUCT(id VARCHAR) (a struct)"),
        (
            pa.array([[("id", "A")]], pa.map_(pa.string(), pa.string())),
            "MAP(VARCHAR, VARCHAR) (a map)",
        ),
    ],
)
def test_a_parquet_column_of_a_nested_type_for_a_value_is_refused(tmp_path, store, values, kind):
    """As a JSON array in a JSON Lines value is quarantined; for Parquet the whole column
    has the type, so the file is refused."""
    path = _parquet(
        tmp_path / "access_events.parquet",
        {
            "ts": pa.array(["2024-06-01T00:00:00Z"]),
            "Account_ID": values,
            "device_id": pa.array(["cam-1"]),
            "action": pa.array(["clip"]),
        },
    )
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [path])
    assert str(caught.value) == (
        f"{path}:1: column Account_ID has the type {kind}, "
        "but access_events.account_id takes a single value"
    )
    assert store.table_rows("access_events") == 0


LINK = '"partner": "p", "linked_at": "2024-01-01"'


def test_a_json_line_giving_a_column_twice_with_two_values_is_quarantined(tmp_path, store):
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        f'{{"account_id": "A", {LINK}}}\n'
        f'{{"account_id": "a", "Account_ID": "b", {LINK}}}\n'  # two values: which one?
        f'{{"account_id": "c", "Account_ID": "c", {LINK}}}\n'  # the same value twice
        f'{{"account_id": " d", "ACCOUNT_ID": "d ", {LINK}}}\n'  # the same once trimmed
        f'{{"account_id": null, "Account_ID": "e", {LINK}}}\n'  # one value
        f'{{"Account_ID": "f", {LINK}, "ACCOUNT_ID": "g", "account_id": ""}}\n'
        f'{{"account_id": "h", "account_id": "i", {LINK}}}\n'  # one key twice
        f'{{"account_id": "j", {LINK}, "note": 1, "note": 1}}\n'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (4, 4)
    assert store.con.execute(
        "SELECT _source_line, account_id, _extra FROM partner_links ORDER BY 1"
    ).fetchall() == [(1, "A", None), (3, "c", None), (4, "d", None), (5, "e", None)]
    assert store.con.execute(
        "SELECT source_line, reason FROM quarantine ORDER BY 1"
    ).fetchall() == [
        (2, 'column "account_id" is given twice with different values (account_id, Account_ID)'),
        (6, 'column "account_id" is given twice with different values (Account_ID, ACCOUNT_ID)'),
        (7, 'key "account_id" appears twice in this object'),
        (8, 'key "note" appears twice in this object'),
    ]


def test_a_json_line_giving_a_column_twice_compares_the_values_not_their_spelling(tmp_path, store):
    path = tmp_path / "partner_links.jsonl"
    when = '"account_id": "A", "partner": "p"'
    path.write_text(
        f'{{{when}, "linked_at": "2024-01-01T00:00:00Z", "Linked_At": "2024-01-01 00:00:00"}}\n'
        f'{{{when}, "linked_at": "2024-01-01T02:00:00+02:00", "LINKED_AT": "2024-01-01"}}\n'
        f'{{{when}, "linked_at": "2024-01-01", "Linked_At": "2024-01-02"}}\n'  # two instants
        f'{{{when}, "linked_at": "2024-01-01", "Linked_At": "soon"}}\n'  # one is no instant
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (2, 2)
    assert store.con.execute(
        "SELECT _source_line, CAST(linked_at AS VARCHAR) FROM partner_links ORDER BY 1"
    ).fetchall() == [(1, "2024-01-01 00:00:00+00"), (2, "2024-01-01 00:00:00+00")]
    assert store.con.execute(
        "SELECT source_line, reason FROM quarantine ORDER BY 1"
    ).fetchall() == [
        (3, 'column "linked_at" is given twice with different values (linked_at, Linked_At)'),
        (4, 'column "linked_at" is given twice with different values (linked_at, Linked_At)'),
    ]


def test_a_json_line_beyond_the_sample_giving_a_column_twice_is_quarantined(
    tmp_path, store, monkeypatch
):
    import leakaudit.ingest.stage as stage

    monkeypatch.setattr(stage, "SAMPLE_BYTES", 64)
    path = tmp_path / "partner_links.jsonl"
    path.write_text(
        "".join(f'{{"account_id": "A{i}", {LINK}}}\n' for i in range(5))
        + f'{{"account_id": "a", {LINK}, "Account_ID": "b"}}\n'
    )
    report = ingest_paths(store, [path])
    assert (report.rows, report.rejected) == (5, 1)
    assert store.con.execute("SELECT source_line, reason FROM quarantine").fetchall() == [
        (6, 'column "account_id" is given twice with different values (account_id, Account_ID)')
    ]
