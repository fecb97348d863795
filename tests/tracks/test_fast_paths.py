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
    """Import ``file`` the fast way and the slow way; assert equal; return the rows.
    The fast way must have read part of the file in blocks, and left part to the rows."""
    from trackdesk.tracks.base import Points

    blocks: list[int] = []
    real = Points.add_block
    with monkeypatch.context() as m:
        m.setattr(Points, "add_block", lambda self, b: (blocks.append(len(b)), real(self, b))[1])
        fast_db = new_db(tmp_path / "fast.db")
        fast = run_import(fast_db, [file])
    assert sum(blocks) > 0
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
    assert 0 < sum(blocks) < len(got)
    return got, fast.summary or {"error": fast.error}


def lifetime_line(rng: random.Random, i: int) -> str:
    t = 1_600_000_000 + i
    lat, lon = 39 + rng.random(), 116 + rng.random()
    fields = [str(t), "1", f"{lon:.7f}", f"{lat:.7f}", f"{rng.uniform(0, 360):.1f}",
              str(rng.randint(3, 60)), f"{rng.uniform(0, 30):.2f}", "0", "0", "0",
              f"{rng.uniform(-20, 3000):.1f}"]
    # Odd rows only in some stretches: the blocks between are clean (the fast path).
    r = rng.random() if i % 6000 < 2000 else 1.0
    if rng.random() < 0.05:
        fields[4] = fields[5] = fields[6] = "-1"       # "unknown": fast path too
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


# -- GPX ----------------------------------------------------------------------------------
def gpx_point(rng: random.Random, i: int, indent: bool) -> str:
    t = 1_600_000_000 + i
    stamp = np.datetime64(t, "s").astype(str)
    lat, lon = rng.uniform(-60, 70), rng.uniform(-179, 179)
    ele = f"<ele>{rng.uniform(-50, 4000):.1f}</ele>"
    time = f"<time>{stamp}Z</time>"
    if rng.random() < 0.05:
        time = f"<time>{stamp}.{rng.randint(0, 999):03d}Z</time>"  # fast path too
    r = rng.random() if i % 12000 < 3000 else 1.0  # odd points in some stretches only
    if r < 0.01:
        time = f"<time>{stamp}.{rng.randint(0, 99):02d}Z</time>"
    elif r < 0.015:
        ele = ""
    elif r < 0.02:
        ele = "<ele></ele>"
    elif r < 0.022:
        time = ""                                    # no time: rejected
    elif r < 0.024:
        time = f"<time>{stamp}+02:00</time>"         # another zone
    elif r < 0.026:
        lat = 91.0                                   # out of range
    elif r < 0.027:
        ele = "<ele>1e3</ele>"
    elif r < 0.028:
        time = "<time>yesterday</time>"              # unreadable
    elif r < 0.029:
        lat, lon = 0.0, 0.0
    sep = "\n    " if indent else ""
    return (f'<trkpt lat="{lat:.{rng.randint(5, 9)}f}"  lon="{lon:.7f}">{sep}{ele}{sep}'
            f"{time}{sep}</trkpt>\n")


def gpx_file(path: Path, n: int, indent: bool, tail: str = "</trkseg></trk></gpx>\n") -> Path:
    rng = random.Random(11)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
             'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>x</name><trkseg>\n']
    for i in range(n):
        parts.append(gpx_point(rng, i, indent))
        if i % 5000 == 4999:
            parts.append("</trkseg><trkseg>\n")
    parts.append(tail)
    path.write_text("".join(parts), encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [False, True])
def test_gpx_fast_equals_the_expression_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             indent: bool) -> None:
    file = gpx_file(tmp_path / "watch.gpx", 40_000, indent)
    monkeypatch.setattr(gpx, "CHUNK", 256 << 10)  # regions of every size, many of them
    got, summary = both_ways(tmp_path, monkeypatch, file,
                             (gpx, "_plain_block", lambda region, out: False))
    assert summary["rejected"] > 0 and len(got) > 35_000


def test_gpx_clean_regions_are_read_by_numpy(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2)
    body = "".join(
        f'<trkpt lat="{rng.uniform(-60, 70):.7f}" lon="{rng.uniform(-179, 179):.7f}">'
        f"<ele>{rng.uniform(0, 900):.1f}</ele><time>"
        f"{np.datetime64(1_600_000_000 + i, 's').astype(str)}Z</time></trkpt>\n"
        for i in range(20_000))
    file = tmp_path / "clean.gpx"
    file.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
                    'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>\n' + body
                    + "</trkseg></trk></gpx>\n", encoding="utf-8")
    slow: list[int] = []
    real = gpx._PLAIN_PT
    monkeypatch.setattr(gpx, "_PLAIN_PT", type("Spy", (), {
        "findall": staticmethod(lambda region: (slow.append(len(region)), real.findall(region))[1])}))
    out = run_import(new_db(tmp_path / "t.db"), [file])
    assert out.ok and out.summary["new"] == 20_000
    assert sum(slow) < 64 << 10  # at most the short tail went through the expression


def read_apart(monkeypatch: pytest.MonkeyPatch, apart: bool) -> None:
    """Read files the way big ones are (in a child, a GPX's XML check in another
    process), or all in this process, whatever their size."""
    from trackdesk.tracks import importer

    size = 0 if apart else 1 << 62
    monkeypatch.setattr(importer, "PIPE_ABOVE_BYTES", size)
    monkeypatch.setattr(gpx, "CHECK_APART_BYTES", size)


def test_gpx_read_apart_equals_read_here(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    file = gpx_file(tmp_path / "watch.gpx", 30_000, indent=True)
    outcomes = {}
    for apart in (True, False):
        read_apart(monkeypatch, apart)
        db = new_db(tmp_path / f"{apart}.db")
        out = run_import(db, [file])
        assert out.ok, out.error
        outcomes[apart] = (rows(db), out.summary["rejected_reasons"])
    assert outcomes[True] == outcomes[False]


@pytest.mark.parametrize("tail,where", [
    ("</trkseg></trk>\n", "end of data"),            # truncated: no </gpx>
    ("</trkseg></trk><oops></gpx>\n", "mismatch"),   # crossed tags at the very end
])
def test_broken_big_gpx_fails_whole_with_libxml2s_words(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tail: str, where: str) -> None:
    file = gpx_file(tmp_path / "broken.gpx", 30_000, indent=False, tail=tail)
    errors = {}
    for apart in (True, False):
        read_apart(monkeypatch, apart)
        db = new_db(tmp_path / f"{apart}.db")
        out = run_import(db, [file])
        assert out.error is not None and "not well-formed GPX" in out.error, out.error
        assert where in out.error, out.error
        assert rows(db) == []  # nothing of the file stays
        errors[apart] = out.error
    assert errors[True] == errors[False]  # the same words as when checked in this process


@pytest.mark.parametrize("apart", [False, True])
def test_broken_csv_fails_whole_naming_the_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                apart: bool) -> None:
    read_apart(monkeypatch, apart)
    file = tmp_path / "broken.csv"
    body = "".join(f"{1_600_000_000 + i},1,116.5,39.5,-1,5,1.5,0,0,0,50\n" for i in range(100))
    file.write_bytes((",".join(HEADER) + "\n" + body).encode() + b'1,1,"2\n')
    db = new_db(tmp_path / "t.db")
    out = run_import(db, [file])
    assert out.error is not None and "line 102" in out.error, out.error
    assert rows(db) == []  # nothing of the file stays
