"""Ingest at its edges: unreadable files and folders, broken compressed streams, a column
named twice, nested Parquet values. Each is one clear line and exit 2, or a quarantined
row; never a traceback, and never a value dropped without a trace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leakaudit.errors import InputError
from leakaudit.ingest import ingest_paths
from leakaudit.store import Store
from tests.ingest_helpers import SUFFIX, compress

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
def test_a_truncated_compressed_jsonl_file_names_the_read_error_alone(
    tmp_path, store, compression, kept
):
    data = compress(_access_events_jsonl(50_000), compression)
    path = tmp_path / f"access_events.jsonl{SUFFIX[compression]}"
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(InputError) as caught:
        ingest_paths(store, [path])
    assert str(caught.value) == f"{path}: Cannot read this file: Truncated compressed stream"
    assert store.table_rows("access_events") == 0
