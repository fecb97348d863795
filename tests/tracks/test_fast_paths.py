"""The fast paths for big files keep exactly what the row-by-row readers keep.

Each file is imported twice into fresh databases: once as trackdesk does it (numpy blocks
where the text allows) and once with the fast path switched off. The points (every
column, in id order) and the summaries must be the same, on files made to hit every way a
block can leave the fast path: bad rows, blanks, CRLF, quotes, negatives meaning
"unknown", exponents, out-of-range points, many blocks.
"""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.tracks.conftest import new_db, run_import
from trackdesk.tracks import csvfile, gpx, vector
from trackdesk.tracks.base import TimeParser
from trackdesk.tracks.lifetime import HEADER

COLS = "ts, lat, lon, altitude, speed, accuracy, heading, source, import_file_id"


def rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {COLS} FROM points ORDER BY id").fetchall()
    finally:
        conn.close()


def both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: Path,
              switch_off: tuple) -> tuple[list[tuple], dict]:
    """Import ``file`` the fast way and the slow way; assert equal; return the rows."""
    fast_db = new_db(tmp_path / "fast.db")
    fast = run_import(fast_db, [file])
    with monkeypatch.context() as m:
        m.setattr(*switch_off)
        slow_db = new_db(tmp_path / "slow.db")
        slow = run_import(slow_db, [file])
    assert fast.error == slow.error
    if fast.summary is not None:
        for s in (fast.summary, slow.summary):
            for f in s["per_file"]:
                f.pop("seconds", None)
            s.pop("seconds", None)
        assert fast.summary == slow.summary
    got = rows(fast_db)
    assert got == rows(slow_db)
    return got, fast.summary or {"error": fast.error}


def lifetime_line(rng: random.Random, i: int) -> str:
    t = 1_600_000_000 + i
    lat, lon = 39 + rng.random(), 116 + rng.random()
    fields = [str(t), "1", f"{lon:.7f}", f"{lat:.7f}", f"{rng.uniform(0, 360):.1f}",
              str(rng.randint(3, 60)), f"{rng.uniform(0, 30):.2f}", "0", "0", "0",
              f"{rng.uniform(-20, 3000):.1f}"]
    r = rng.random()
    if r < 0.02:
        fields[4] = fields[5] = fields[6] = "-1"       # the app's "unknown"
    elif r < 0.03:
        fields[10] = ""                                 # no altitude
    elif r < 0.035:
        fields[0] = "-1"                                # unknown time: rejected
    elif r < 0.04:
        fields[3] = "95.5"                              # latitude out of range
    elif r < 0.042:
        fields[2] = "1.16e2"                            # an exponent
    elif r < 0.044:
        return ",".join(fields[:7])                     # a short row
    elif r < 0.046:
        return ""                                       # a blank line
    elif r < 0.047:
        fields[6] = "-0"                                # negative zero: unknown
    elif r < 0.048:
        fields[0] = "abc"
    elif r < 0.049:
        fields[3], fields[2] = "0", "0"                 # null island
    elif r < 0.050:
        fields[0] = str(t) + ".5"
    return ",".join(fields)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lifetime_csv_fast_equals_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       newline: str) -> None:
    rng = random.Random(7)
    lines = [",".join(HEADER)] + [lifetime_line(rng, i) for i in range(30_000)]
    # A stretch of perfectly clean rows (the fast path proper), then a quoted field.
    lines += [f"{1_700_000_000 + i},1,116.5,39.5,-1,5,1.5,0,0,0,50" for i in range(5000)]
    lines += ['1700100000,1,"116.25",39.25,-1,5,1.5,0,0,0,50',
              "1700100001,1,116.26,39.26,-1,5,1.5,0,0,0,51"]
    file = tmp_path / "一生足迹.csv"
    file.write_text(newline.join(lines), encoding="utf-8")  # no final line end
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 64 << 10)  # many blocks, split anywhere
    got, summary = both_ways(tmp_path, monkeypatch, file,
                             (csvfile, "_lifetime_utf8", lambda head: False))
    assert summary["rejected"] > 0
    assert len(got) > 30_000


def test_lifetime_csv_clean_file_takes_the_fast_path(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "clean.csv"
    file.write_text("\ufeff" + ",".join(HEADER) + "\n" + "".join(
        f"{1_600_000_000 + i},1,116.{i:07d},39.5,-1,5,1.5,0,0,0,50\n" for i in range(20_000)),
        encoding="utf-8")
    used: list[int] = []
    real = csvfile._lifetime_rows
    monkeypatch.setattr(csvfile, "_lifetime_rows",
                        lambda *a: (used.append(1), real(*a))[1])
    out = run_import(new_db(tmp_path / "t.db"), [file])
    assert out.ok and out.summary["new"] == 20_000
    assert not used  # every block read by numpy
    (lat, lon, speed, heading), = sqlite3.connect(tmp_path / "t.db").execute(
        "SELECT lat, lon, speed, heading FROM points WHERE ts = 1600000123").fetchall()
    assert (lat, lon, speed, heading) == (39.5, 116.0000123, 1.5, None)  # -1: unknown


def test_broken_block_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.csv"
    body = "".join(f"{1_600_000_000 + i},1,116.5,39.5,-1,5,1.5,0,0,0,50\n" for i in range(100))
    file.write_bytes((",".join(HEADER) + "\n" + body).encode() + b'1,1,"2\n')
    db = new_db(tmp_path / "t.db")
    out = run_import(db, [file])
    assert out.error is not None and "line 102" in out.error, out.error
    assert rows(db) == []  # nothing of the file stays


# -- the numbers themselves -------------------------------------------------------------
def test_decimals_equal_float_or_decline() -> None:
    rng = random.Random(3)
    texts = []
    for _ in range(50_000):
        r = rng.random()
        if r < 0.6:
            texts.append(f"{rng.uniform(-180, 180):.{rng.randint(0, 12)}f}")
        elif r < 0.8:
            texts.append(repr(rng.uniform(-1e6, 1e6)))
        else:
            texts.append("".join(rng.choice("0123456789.-e+ ") for _ in range(rng.randint(0, 18))))
    joined = ",".join(texts).encode()
    lens = np.array([len(t) for t in texts])
    starts = np.concatenate(([0], np.cumsum(lens + 1)[:-1]))
    values, ok = vector.decimals(np.frombuffer(joined, np.uint8), starts, starts + lens)
    assert ok.sum() > 30_000
    for text, v, good in zip(texts, values, ok, strict=True):
        if good:
            f = float(text)
            assert f == v and math.copysign(1, f) == math.copysign(1, v), text


def test_iso_times_equal_the_time_parser() -> None:
    parse = TimeParser()
    rng = random.Random(5)
    texts = []
    for _ in range(20_000):
        t = rng.randint(315_964_800, 7_258_118_399)
        base = np.datetime64(t, "s").astype(str)
        texts.append(base + rng.choice(["Z", ".5Z", ".25Z", ".125Z", "", "+01:00", ".1234Z"]))
    texts += ["2021-02-29T00:00:00Z", "2020-02-29T23:59:59Z", "2020-13-01T00:00:00Z",
              "2020-01-01T24:00:00Z", "2020-01-01 00:00:00Z"]
    joined = "".join(texts).encode()
    lens = np.array([len(t) for t in texts])
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    values, ok = vector.iso_z(np.frombuffer(joined, np.uint8), starts, starts + lens)
    assert ok.sum() > 8_000
    for text, v, good in zip(texts, values, ok, strict=True):
        if good:
            assert parse(text) == v, text
    assert not ok[-5] and ok[-4] and not ok[-3] and not ok[-2] and not ok[-1]


_ = gpx  # the GPX fast path has its own tests below (added with it)
