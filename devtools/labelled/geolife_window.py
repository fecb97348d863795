"""Choose and copy a window of a GeoLife 1.3 user's labelled days for local scoring.

The data stay out of the repository (GeoLife's licence forbids redistribution; see
tests/data/labelled/MORE_PEOPLE.md). From a local `fetch` of
erikssommer/geolife-gps-trajectory-dataset-mysql:

    python -m devtools.labelled.geolife_window pick 052 065      # the best 21-day window
    python -m devtools.labelled.geolife_window copy 052:2008-07-11  # .plt and labels.txt

`pick` scores each window (from a labelled day's midnight GMT) by labelled time, weighted
up by the number of modes, and says which other users share any .plt file in it (GeoLife
has users with identical files). `copy` writes geolife_<user>/ in the current folder.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

# The git directory of the fetched copy (GEOLIFE_MIRROR overrides where it is).
MIRROR = Path(os.environ.get(
    "GEOLIFE_MIRROR", "/work/.mirror/erikssommer+geolife-gps-trajectory-dataset-mysql/repo"))
MODES = {"walk", "bike", "bus", "car", "taxi", "subway", "train", "airplane", "tram", "run",
         "motorcycle"}
DAYS = 21
TIME = "%Y/%m/%d %H:%M:%S"


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(MIRROR), *args], capture_output=True,
                          check=True).stdout


def label_rows(user: str) -> list[tuple[dt.datetime, dt.datetime, str, str]]:
    rows = []
    text = git("show", f"HEAD:dataset/Data/{user}/labels.txt").decode()
    for line in text.splitlines()[1:]:
        if line.strip():
            start, end, mode = line.strip().split("\t")
            rows.append((dt.datetime.strptime(start, TIME), dt.datetime.strptime(end, TIME),
                         mode, line.strip()))
    return rows


def plt_files(user: str) -> list[tuple[str, str, dt.datetime]]:
    """(blob hash, path, start time from the file name) of the user's .plt files."""
    out = []
    listing = git("ls-tree", "-r", "HEAD", f"dataset/Data/{user}/Trajectory/").decode()
    for line in listing.splitlines():
        meta, path = line.split("\t")
        start = dt.datetime.strptime(path.rsplit("/", 1)[1][:14], "%Y%m%d%H%M%S")
        out.append((meta.split()[2], path, start))
    return out


def pick(users: list[str]) -> None:
    owners: dict[str, set[str]] = collections.defaultdict(set)
    for line in git("ls-tree", "-r", "HEAD", "dataset/Data/").decode().splitlines():
        meta, path = line.split("\t")
        if "/Trajectory/" in path:
            owners[meta.split()[2]].add(path.split("/")[2])
    for user in users:
        rows = label_rows(user)
        best = None
        for first, _, _, _ in rows:
            day = first.replace(hour=0, minute=0, second=0)
            end = day + dt.timedelta(days=DAYS)
            secs: collections.Counter[str] = collections.Counter()
            for a, b, mode, _ in rows:
                if a >= day and b < end and mode in MODES:
                    secs[mode] += (b - a).total_seconds()
            score = sum(secs.values()) * (1 + 0.2 * sum(v > 600 for v in secs.values()))
            if best is None or score > best[0]:
                best = (score, day, end, secs)
        if best is None:
            print(user, "no label rows")
            continue
        _, day, end, secs = best
        files = [(h, p) for h, p, t in plt_files(user) if day <= t < end]
        shared = sorted(set().union(*(owners[h] - {user} for h, _ in files)))
        hours = {m: round(s / 3600, 1) for m, s in secs.most_common()}
        print(user, day.date(), "files", len(files), "labelled h", hours,
              "shares files with", shared)


def copy(specs: list[str]) -> None:
    for spec in specs:
        user, start = spec.split(":")
        day = dt.datetime.strptime(start, "%Y-%m-%d")
        end = day + dt.timedelta(days=DAYS)
        out = Path(f"geolife_{user}")
        (out / "Trajectory").mkdir(parents=True, exist_ok=True)
        n = 0
        for _, path, t in plt_files(user):
            if day <= t < end:  # byte for byte: the original CRLF endings stay
                (out / "Trajectory" / path.rsplit("/", 1)[1]).write_bytes(
                    git("show", f"HEAD:{path}"))
                n += 1
        kept = [line for a, b, mode, line in label_rows(user)
                if a < end and b > day and mode in MODES]
        (out / "labels.txt").write_text("Start Time\tEnd Time\tTransportation Mode\n"
                                        + "\n".join(kept) + "\n")
        print(out, n, "files", len(kept), "label rows")


if __name__ == "__main__":
    {"pick": pick, "copy": copy}[sys.argv[1]](sys.argv[2:])
