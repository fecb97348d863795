"""Bad command lines and odd databases: one clear line, exit 2, nothing created or changed.

Each case here printed a traceback, a seven-line argparse usage, or silently created a
database before (issue 17, section 4).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_cli import ENV, cli, one_clear_line
from tests.tmpfs import mounted_tmpfs

CSV = "time,lat,lon\n2024-01-01T00:00:00Z,48.1,11.5\n2024-01-01T00:01:00Z,48.2,11.6\n"


@pytest.mark.parametrize("argv, says", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["tasks", "frob"], "invalid choice: 'frob'"),
    (["tasks", "show", "notanumber"], "invalid int value"),
    (["chain", "run", "--type", "SIDEWAYS"], "invalid choice"),
])
def test_a_mistyped_command_is_one_line_not_a_usage_page(argv, says):
    out = cli(*argv)
    assert out.returncode == 2
    assert says in one_clear_line(out.stderr)


def test_a_bad_concurrency_setting_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(tmp_path / "t.db"),
                          "run"], capture_output=True, text=True, timeout=60,
                         env={**ENV, "TRACKDESK_CONCURRENCY": "abc"})
    assert out.returncode == 2
    assert "TRACKDESK_CONCURRENCY" in one_clear_line(out.stderr)
    assert "'abc'" in out.stderr


@pytest.mark.parametrize("db, says", [
    ("/dev/null", "not a regular file"),
    ("/proc/version", "cannot open /proc/version as a tracks.db"),
])
def test_a_database_path_that_is_no_database_is_one_line(db, says):
    for argv in (["tasks", "list"], ["tasks", "create", "count"], ["status"]):
        out = cli(*argv, db=db)
        assert out.returncode == 2, (argv, out.stdout, out.stderr)
        assert says in one_clear_line(out.stderr)


@pytest.mark.parametrize("argv", [["tasks", "list"], ["tasks", "show", "1"], ["status"],
                                  ["metrics"]])
def test_a_read_command_never_creates_a_database_nor_its_folders(tmp_path, argv):
    db = tmp_path / "no" / "such" / "dir" / "tracks.db"
    out = cli(*argv, db=db)
    assert out.returncode == 2
    assert "no tracks.db at" in one_clear_line(out.stderr)
    assert list(tmp_path.iterdir()) == []


def test_listing_into_a_closed_pipe_ends_quietly(tmp_path):
    db = tmp_path / "tracks.db"
    cli("tasks", "create", "count", db=db, check=True)
    # More than a pipe's 64 KiB of listing, so the writer meets the closed pipe.
    conn = sqlite3.connect(db)
    cols = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(analysis_tasks)")
                     if r[1] != "id")
    with conn:
        for _ in range(11):
            conn.execute(f"INSERT INTO analysis_tasks ({cols}) "
                         f"SELECT {cols} FROM analysis_tasks")
    conn.close()
    # head reads one line and leaves: the CLI must not print a BrokenPipeError traceback.
    out = subprocess.run(f"{sys.executable} -m trackdesk --db {db} tasks list | head -1",
                         shell=True, capture_output=True, text=True, env=ENV, timeout=60)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs that the test fills, then remounts read-only, as a CD, a read-only
    network share or a locked-down backup disk would be."""
    with mounted_tmpfs(tmp_path / "mnt", 32) as where:
        yield where


def test_a_tracks_db_on_a_read_only_file_system_can_be_read_not_changed(
        tmp_path, read_only_mount):
    track = tmp_path / "a.csv"
    track.write_text(CSV)
    db = read_only_mount / "tracks.db"
    done = subprocess.run([sys.executable, "-m", "trackdesk", "--db", str(db), "import",
                           str(track), "--wait"], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True)
    before = {p.name: p.read_bytes() for p in read_only_mount.iterdir()}

    listed = cli("tasks", "list", db=db)
    assert listed.returncode == 0, listed.stderr
    assert "import" in listed.stdout and "completed" in listed.stdout
    status = cli("status", db=db)
    assert "read-only file system" in status.stdout
    assert "integrity ok" in status.stdout
    assert "not an SQLite database" not in status.stdout + status.stderr

    refused = cli("import", str(track), db=db)
    assert refused.returncode == 2
    line = one_clear_line(refused.stderr)
    assert "read-only file system" in line and "not an SQLite database" not in line
    made = cli("tasks", "create", "count", db=db)
    assert made.returncode == 2 and "read-only" in one_clear_line(made.stderr)
    assert {p.name: p.read_bytes() for p in read_only_mount.iterdir()} == before
