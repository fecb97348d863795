"""Local time and place clustering shared by stay_stats and footprint_stats."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from trackdesk.skills.geo import haversine
from trackdesk.worker import SkillError

QUARTER = 900.0
NIGHT = (22, 6)  # local hours of "at home" (22:00-06:00)
WORK = (9, 17)  # local hours of "at work" on weekdays


def utc_offsets(ts: np.ndarray, timezone: str) -> np.ndarray:
    """UTC offset in seconds at each instant, for an IANA zone or the machine's 'local'.

    Offsets only change on quarter-hours (UTC) in every real zone, so they are looked up
    once per distinct quarter-hour, not once per point.
    """
    if len(ts) == 0:
        return np.zeros(0)
    q = np.floor(ts / QUARTER).astype(np.int64)
    if len(q) > 1 and np.all(q[1:] >= q[:-1]):
        # Time-sorted input (the usual case): distinct values without sorting a million.
        first = np.concatenate([[True], q[1:] != q[:-1]])
        uq = q[first]
        inv = np.cumsum(first) - 1
    else:
        uq, inv = np.unique(q, return_inverse=True)
    if timezone in ("", "local"):
        offs = [float(time.localtime(int(x) * QUARTER).tm_gmtoff) for x in uq.tolist()]
    else:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SkillError(f"unknown time zone {timezone!r}: use an IANA name such as "
                             f"Europe/Berlin, or 'local'") from exc
        offs = [datetime.fromtimestamp(int(x) * QUARTER, tz).utcoffset().total_seconds()
                for x in uq.tolist()]
    return np.asarray(offs, dtype=np.float64)[inv.reshape(-1)]


AUTO = "auto"  # each stay in its own zone, from its position (issue 21)


def stay_offsets(start: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """UTC offset at each stay's start in the zone where the stay is (tzfpy, offline):
    a night in Tokyo is Tokyo's night whatever this computer's zone. Without tzfpy (a
    worker image built without it), this computer's zone."""
    try:
        from trackdesk.geodata.timezones import zone_at
    except ImportError:
        return utc_offsets(start, "local")
    zones = [zone_at(float(a), float(o)) for a, o in zip(lat.tolist(), lon.tolist(),
                                                          strict=True)]
    out = np.zeros(len(start))
    for z in set(zones):
        sel = np.array([x == z for x in zones])
        try:
            out[sel] = utc_offsets(start[sel], z)
        except SkillError:  # a zone this Python's tzdata lacks
            out[sel] = utc_offsets(start[sel], "local")
    return out


def local_days(ts: np.ndarray, timezone: str) -> np.ndarray:
    """Local day number (days since 1970-01-01 in local time) of each instant."""
    return np.floor((ts + utc_offsets(ts, timezone)) / 86400.0).astype(np.int64)


def day_strings(days: np.ndarray) -> list[str]:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype(str).tolist()


def cluster_stays(lat: np.ndarray, lon: np.ndarray, radius_m: float) -> np.ndarray:
    """Place index per stay: leader clustering in stay order, centres as running means.

    Deterministic for a given stay order (time), which is all a recompute needs.
    """
    n = len(lat)
    owner = np.zeros(n, dtype=np.int64)
    c_lat: list[float] = []
    c_lon: list[float] = []
    counts: list[int] = []
    for i in range(n):
        if c_lat:
            d = haversine(lat[i], lon[i], np.asarray(c_lat), np.asarray(c_lon))
            k = int(np.argmin(d))
            if d[k] <= radius_m:
                counts[k] += 1
                c_lat[k] += (lat[i] - c_lat[k]) / counts[k]
                c_lon[k] += (lon[i] - c_lon[k]) / counts[k]
                owner[i] = k
                continue
        c_lat.append(float(lat[i]))
        c_lon.append(float(lon[i]))
        counts.append(1)
        owner[i] = len(c_lat) - 1
    return owner


def _window_overlap(start: float, end: float, off: float, h0: int, h1: int,
                    weekdays_only: bool) -> float:
    """Seconds of [start, end] inside local hours [h0, h1) (wrapping midnight if h0 > h1)."""
    if end <= start:
        return 0.0
    total = 0.0
    d_first = int(np.floor((start + off) / 86400.0)) - 1
    d_last = int(np.floor((end + off) / 86400.0)) + 1
    for d in range(d_first, d_last + 1):
        if weekdays_only and (d + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
            continue
        a = d * 86400.0 + h0 * 3600.0 - off
        b = (d + (1 if h1 <= h0 else 0)) * 86400.0 + h1 * 3600.0 - off
        total += max(0.0, min(end, b) - max(start, a))
    return total


def build_places(stays: list[tuple], radius_m: float, timezone: str) -> tuple[list[tuple],
                                                                             list[tuple]]:
    """(place rows, (stay_id, place_id) rows) from stays (id, start, end, lat, lon) by time."""
    if not stays:
        return [], []
    ids = np.array([s[0] for s in stays], dtype=np.int64)
    start = np.array([s[1] for s in stays])
    end = np.array([s[2] for s in stays])
    lat = np.array([s[3] for s in stays])
    lon = np.array([s[4] for s in stays])
    owner = cluster_stays(lat, lon, radius_m)
    offs = stay_offsets(start, lat, lon) if timezone == AUTO else utc_offsets(start, timezone)
    night = np.array([_window_overlap(a, b, o, NIGHT[0], NIGHT[1], False)
                      for a, b, o in zip(start.tolist(), end.tolist(), offs.tolist(), strict=True)])
    work = np.array([_window_overlap(a, b, o, WORK[0], WORK[1], True)
                     for a, b, o in zip(start.tolist(), end.tolist(), offs.tolist(), strict=True)])
    n_places = int(owner.max()) + 1
    dwell = end - start
    rows: list[dict[str, Any]] = []
    for k in range(n_places):
        m = owner == k
        mlat, mlon = float(np.mean(lat[m])), float(np.mean(lon[m]))
        d = haversine(lat[m], lon[m], mlat, mlon)
        rows.append({
            "id": int(ids[m][0]), "lat": mlat, "lon": mlon, "n_visits": int(m.sum()),
            "dwell": float(np.sum(dwell[m])), "first": float(start[m].min()),
            "last": float(end[m].max()), "night": float(np.sum(night[m])),
            "work": float(np.sum(work[m])), "radius": float(d.max()) if len(d) else 0.0,
            "label": None})
    home = max(rows, key=lambda r: (r["night"], r["dwell"], -r["id"]))
    if home["night"] > 0:
        home["label"] = "home"
    others = [r for r in rows if r["label"] is None and r["work"] >= 3600.0]
    if others:
        max(others, key=lambda r: (r["work"], r["dwell"], -r["id"]))["label"] = "work"
    place_rows = [(r["id"], r["lat"], r["lon"], r["n_visits"], r["dwell"], r["first"], r["last"],
                   r["label"], r["night"], r["work"], r["radius"]) for r in rows]
    place_ids = np.array([r["id"] for r in rows], dtype=np.int64)
    links = list(zip(ids.tolist(), place_ids[owner].tolist(), strict=True))
    return place_rows, links
