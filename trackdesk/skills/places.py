"""Local time and place clustering shared by stay_stats and footprint_stats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trackdesk.geodata.localdays import LOCAL, offsets, valid_zone
from trackdesk.geodata.timezones import zone_at
from trackdesk.skills.geo import haversine
from trackdesk.worker import SkillError

NIGHT = (22, 6)  # local hours of "at home" (22:00-06:00)
WORK = (9, 17)  # local hours of "at work" on weekdays


def utc_offsets(ts: np.ndarray, timezone: str) -> np.ndarray:
    """UTC offset in seconds at each instant, for an IANA zone or the machine's 'local'
    (geodata.localdays.offsets, which would quietly use 'local' for a name it does not
    know: a zone the user typed is checked here instead)."""
    if not valid_zone(timezone):
        raise SkillError(f"unknown time zone {timezone!r}: use an IANA name such as "
                         f"Europe/Berlin, or 'local'")
    return offsets(ts, timezone)


AUTO = "auto"  # each stay in its own zone, from its position (issue 21)


def stay_offsets(start: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """UTC offset at each stay's start in the zone where the stay is (tzfpy, offline):
    a night in Tokyo is Tokyo's night whatever this computer's zone. Without tzfpy (a
    worker image built without it), or in a zone this Python's tzdata lacks, this
    computer's zone."""
    try:
        zones = [zone_at(float(a), float(o)) for a, o in zip(lat.tolist(), lon.tolist(),
                                                              strict=True)]
    except ImportError:  # zone_at imports tzfpy on its first call
        return offsets(start, LOCAL)
    names, which = np.unique(zones, return_inverse=True)
    out = np.zeros(len(start))
    for i, z in enumerate(names.tolist()):
        sel = which == i
        out[sel] = offsets(start[sel], z)
    return out


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


def _window_days(start: float, end: float, off: float, h0: int, h1: int,
                 weekdays_only: bool) -> list[tuple[int, float]]:
    """(local day, seconds) of [start, end] inside local hours [h0, h1) of that day (a
    window wrapping midnight, h0 > h1, belongs to the day it starts on: a night is the
    evening's date)."""
    out: list[tuple[int, float]] = []
    if end <= start:
        return out
    d_first = int(np.floor((start + off) / 86400.0)) - 1
    d_last = int(np.floor((end + off) / 86400.0)) + 1
    for d in range(d_first, d_last + 1):
        if weekdays_only and (d + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
            continue
        a = d * 86400.0 + h0 * 3600.0 - off
        b = (d + (1 if h1 <= h0 else 0)) * 86400.0 + h1 * 3600.0 - off
        sec = min(end, b) - max(start, a)
        if sec > 0:
            out.append((d, sec))
    return out


# Home and work need evidence across many nights and working days (issue 20): never one
# stop en route, never one night in a hotel, never one day at a conference.
NIGHT_MIN_S = 3 * 3600.0  # a night "spent" at a place: this much of 22:00-06:00 there
HOME_MIN_NIGHTS = 2       # home: at least this many distinct nights...
HOME_MIN_SHARE = 0.2      # ...and this share of the nights spent anywhere we know of
WORKDAY_MIN_S = 2 * 3600.0  # a working day at a place: this much of weekday 09:00-17:00
WORK_MIN_DAYS = 2
WORK_MIN_SHARE = 0.2


def _distinct(per_stay: list[list[tuple[int, float]]], owner: np.ndarray, n_places: int,
              min_s: float) -> tuple[np.ndarray, int]:
    """Per place: distinct days (nights) with at least ``min_s`` there; and how many days
    had at least ``min_s`` at any place (the days we know where the person was)."""
    by_place: list[dict[int, float]] = [{} for _ in range(n_places)]
    anywhere: dict[int, float] = {}
    for k, days in enumerate(per_stay):
        acc = by_place[int(owner[k])]
        for d, sec in days:
            acc[d] = acc.get(d, 0.0) + sec
            anywhere[d] = anywhere.get(d, 0.0) + sec
    counts = np.array([sum(1 for v in acc.values() if v >= min_s) for acc in by_place],
                      dtype=np.int64)
    return counts, sum(1 for v in anywhere.values() if v >= min_s)


def merge_owner(owner: np.ndarray, place_ids: np.ndarray,
                merges: Sequence[Sequence[int]]) -> tuple[np.ndarray, dict[int, int]]:
    """The user's merge_places, oldest first: the places of each group become the group's
    first place that exists (ids already merged away resolve to where they went).
    Returns the new owner per stay and the id each cluster index goes by."""
    owner = owner.copy()
    index_of = {int(p): k for k, p in enumerate(place_ids.tolist())}
    alias: dict[int, int] = {}

    def resolve(pid: int) -> int:
        while pid in alias:
            pid = alias[pid]
        return pid

    for group in merges:
        present = []
        for pid in group:
            r = resolve(int(pid))
            if r in index_of and r not in present:
                present.append(r)
        if len(present) < 2:
            continue
        keep = present[0]
        for other in present[1:]:
            owner[owner == index_of[other]] = index_of[keep]
            alias[other] = keep
            del index_of[other]
    return owner, {k: pid for pid, k in index_of.items()}


def build_places(stays: list[tuple], radius_m: float, timezone: str,
                 merges: Sequence[Sequence[int]] = ()) -> tuple[list[tuple], list[tuple]]:
    """(place rows, (stay_id, place_id) rows) from stays (id, start, end, lat, lon) by time.

    ``merges``: the user's merge_places corrections in force (groups of place ids)."""
    if not stays:
        return [], []
    ids = np.array([s[0] for s in stays], dtype=np.int64)
    start = np.array([s[1] for s in stays])
    end = np.array([s[2] for s in stays])
    lat = np.array([s[3] for s in stays])
    lon = np.array([s[4] for s in stays])
    owner = cluster_stays(lat, lon, radius_m)
    n_clusters = int(owner.max()) + 1
    # A place's id is the id of its first stay (stays come in time order).
    first_stay = np.full(n_clusters, len(ids), dtype=np.int64)
    np.minimum.at(first_stay, owner, np.arange(len(ids)))
    owner, names = merge_owner(owner, ids[first_stay], merges)
    offs = stay_offsets(start, lat, lon) if timezone == AUTO else utc_offsets(start, timezone)
    nights = [_window_days(a, b, o, NIGHT[0], NIGHT[1], False)
              for a, b, o in zip(start.tolist(), end.tolist(), offs.tolist(), strict=True)]
    workdays = [_window_days(a, b, o, WORK[0], WORK[1], True)
                for a, b, o in zip(start.tolist(), end.tolist(), offs.tolist(), strict=True)]
    night = np.array([sum(sec for _, sec in x) for x in nights])
    work = np.array([sum(sec for _, sec in x) for x in workdays])
    n_nights, known_nights = _distinct(nights, owner, n_clusters, NIGHT_MIN_S)
    n_workdays, known_workdays = _distinct(workdays, owner, n_clusters, WORKDAY_MIN_S)
    dwell = end - start
    rows: list[dict[str, Any]] = []
    for k in sorted(names):
        m = owner == k
        mlat, mlon = float(np.mean(lat[m])), float(np.mean(lon[m]))
        d = haversine(lat[m], lon[m], mlat, mlon)
        rows.append({
            "id": names[k], "lat": mlat, "lon": mlon, "n_visits": int(m.sum()),
            "dwell": float(np.sum(dwell[m])), "first": float(start[m].min()),
            "last": float(end[m].max()), "night": float(np.sum(night[m])),
            "work": float(np.sum(work[m])), "radius": float(d.max()) if len(d) else 0.0,
            "nights": int(n_nights[k]), "workdays": int(n_workdays[k]),
            "label": None})
    home = max(rows, key=lambda r: (r["nights"], r["night"], r["dwell"], -r["id"]))
    if home["nights"] >= max(HOME_MIN_NIGHTS, HOME_MIN_SHARE * known_nights):
        home["label"] = "home"
    # A place where the person slept on at least two nights, and on at least one night
    # for every two working days there, is lodging (the hotel of a business trip, a
    # friend's flat), not their work: an office sees a night at most now and then.
    others = [r for r in rows if r["label"] is None
              and r["nights"] < max(HOME_MIN_NIGHTS, r["workdays"] / 2)
              and r["workdays"] >= max(WORK_MIN_DAYS, WORK_MIN_SHARE * known_workdays)]
    if others:
        max(others, key=lambda r: (r["workdays"], r["work"], r["dwell"], -r["id"]))["label"] = \
            "work"
    place_rows = [(r["id"], r["lat"], r["lon"], r["n_visits"], r["dwell"], r["first"], r["last"],
                   r["label"], r["night"], r["work"], r["radius"]) for r in rows]
    links = list(zip(ids.tolist(), [names[int(k)] for k in owner.tolist()], strict=True))
    return place_rows, links
