"""Synthetic location history with known truth, for tests and benchmarks.

One person's days around a home, a workplace and a few other places: nights at home,
commutes by bike, car, bus or subway, lunch walks, shopping, now and then a train trip to
another city (regional or long-distance, with station stops of 0.5-6 min), a motorway
drive or a flight. Public transport rides as people ride it: a bus stops every 300-800 m
for 10-45 s, a subway every 0.6-1.2 km and loses the fix underground, a long-distance
train cruises at 80-160 km/h between stations tens of km apart. Points come every 1-5 s (``sample_s``), stays are sometimes logged only
every 20 minutes (``sparse_stay_prob``), positions carry GPS noise, and some points are
corrupted on purpose: there-and-back spikes, fixes with poor reported accuracy and
duplicate timestamps. The truth says, for every point, whether it is an outlier, which
stay it belongs to and which mode moved it; and lists the stays and trips.

Deterministic for a seed; numpy only, fast enough for a million points.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import numpy as np

from trackdesk.skills.geo import DEG, EARTH_RADIUS_M, MODE_INDEX, MODES

START_TS = 1_767_225_600.0  # 2026-01-01 00:00 UTC
CENTRE = (48.137, 11.575)

CRUISE = {"walk": (1.35, 0.12), "bike": (5.0, 0.6), "car": (11.5, 1.5), "train": (50.0, 6.0),
          "plane": (220.0, 10.0), "bus": (9.0, 1.0), "subway": (16.0, 2.0),
          "regional": (30.0, 4.0), "motorway": (32.0, 3.0)}
ACCEL = {"walk": 1.0, "bike": 0.8, "car": 2.0, "train": 0.5, "plane": 2.0, "bus": 1.0,
         "subway": 1.0, "regional": 0.5, "motorway": 2.0}
# Mean distance between stops (lights, junctions) and their duration range, per mode.
STOPS = {"walk": (800.0, (5, 25)), "bike": (900.0, (10, 35)), "car": (1500.0, (10, 40)),
         "motorway": (700.0, (10, 40))}  # motorway: lights only in town (first/last 2 km)
# Public transport stops where its stations are: spacing range (m) and dwell range (s).
STATIONS = {"bus": ((300.0, 800.0), (10, 45)), "subway": ((600.0, 1200.0), (20, 40)),
            "regional": ((4000.0, 15000.0), (30, 120)),
            "train": ((20_000.0, 60_000.0), (60, 360))}
# The mode a ride is labelled with in the truth.
TRUTH_MODE = {"subway": "train", "regional": "train", "motorway": "car"}


@dataclass
class Truth:
    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy: np.ndarray
    is_outlier: np.ndarray
    mode: np.ndarray  # index into MODES; stationary for stay points
    stay: np.ndarray  # index into stays, -1 when moving
    stays: list[tuple[float, float, float, float]] = field(default_factory=list)
    trips: list[tuple[float, float, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)


def _to_latlon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = CENTRE[0] + y / (EARTH_RADIUS_M * DEG)
    lon = CENTRE[1] + x / (EARTH_RADIUS_M * DEG * np.cos(CENTRE[0] * DEG))
    return lat, lon


class _Gen:
    def __init__(self, seed: int, sample_s: tuple[float, float], noise_m: float,
                 sparse_stay_prob: float, pace: dict[str, float] | None = None,
                 phone: bool = False) -> None:
        self.rng = np.random.default_rng(seed)
        self.pace = pace or {}
        self.phone = phone
        self.sample_s = sample_s
        self.noise_m = noise_m
        self.sparse = sparse_stay_prob
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.stays: list[tuple[float, float, float, float]] = []
        self.trips: list[tuple[float, float, str]] = []
        self.t = START_TS
        self.pos = np.array([0.0, 0.0])
        self.last_was_stay = False

    def _times(self, t0: float, t1: float, step: tuple[float, float]) -> np.ndarray:
        # The first fix comes one sampling step after t0: t0 is the last fix of what
        # came before (an arrival), and two fixes never share a timestamp.
        n = int((t1 - t0) / step[0]) + 2
        dt = self.rng.uniform(step[0], step[1], n)
        if t0 == START_TS:
            dt[0] = 0.0
        t = t0 + np.cumsum(dt)
        return t[t < t1]

    def stay(self, duration: float, sparse: bool | None = None) -> None:
        sparse = bool(self.rng.random() < self.sparse) if sparse is None else sparse
        step = (1190.0, 1210.0) if sparse else self.sample_s
        t = self._times(self.t, self.t + duration, step)
        x = self.pos[0] + self.rng.normal(0, self.noise_m, len(t))
        y = self.pos[1] + self.rng.normal(0, self.noise_m, len(t))
        lat, lon = _to_latlon(x, y)
        c_lat, c_lon = _to_latlon(self.pos[0:1], self.pos[1:2])
        if self.stays and self.stays[-1][1] == self.t and self.last_was_stay:
            # Still at the same place (past midnight): one stay, not two.
            prev = self.stays[-1]
            self.stays[-1] = (prev[0], self.t + duration, prev[2], prev[3])
        else:
            self.stays.append((self.t, self.t + duration, float(c_lat[0]), float(c_lon[0])))
        k = len(self.stays) - 1
        self.last_was_stay = True
        self.parts.append((t, lat, lon, np.full(len(t), MODE_INDEX["stationary"]),
                           np.full(len(t), k)))
        self.t += duration

    def travel(self, dest: np.ndarray, mode: str) -> None:
        start = self.pos.copy()
        vec = dest - start
        length = float(np.hypot(*vec))
        # A route: the straight line bent through a couple of offset waypoints.
        if mode in ("walk", "bike", "car", "bus", "motorway"):
            k = int(self.rng.integers(1, 4))
            f = np.sort(self.rng.uniform(0.15, 0.85, k))
            normal = np.array([-vec[1], vec[0]]) / max(length, 1e-9)
            off = self.rng.normal(0, 0.12 * length, k)
            way = start + f[:, None] * vec + off[:, None] * normal
            poly = np.vstack([start, way, dest])
        else:
            poly = np.vstack([start, dest])
        seg = np.hypot(*np.diff(poly, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = float(cum[-1])
        mean, sd = CRUISE[mode]
        cruise = max(0.5, self.rng.normal(mean * self.pace.get(mode, 1.0), sd))
        if mode == "car" and total > 12_000:
            cruise = max(20.0, self.rng.normal(27.0, 2.5))
        if mode == "train":  # long-distance: 80-160 km/h between stations
            cruise = float(self.rng.uniform(22.0, 44.0))
        accel = ACCEL[mode]
        ts, ss = [self.t], [0.0]
        s, v, t = 0.0, 0.0, self.t
        stop_left = 0.0
        next_stop = self._next_stop(mode)
        while s < total:
            dt = float(self.rng.uniform(*self.sample_s))
            remaining = total - s
            if stop_left > 0:
                v = 0.0
                stop_left -= dt
            else:
                to_stop = next_stop - s if mode in STATIONS else remaining
                brake = np.sqrt(2 * accel * max(0.0, min(remaining, to_stop)))
                target = cruise * (1 + 0.05 * self.rng.standard_normal())
                if mode == "motorway" and min(s, remaining) < 2000:
                    target = min(target, 12.0)  # town streets at either end
                v = min(target, v + accel * dt, brake)
                v = max(v, 0.3)
                in_town = mode != "motorway" or min(s, remaining) < 2000
                if s >= next_stop and (mode in STOPS or mode in STATIONS) and in_town:
                    dwell = STOPS[mode][1] if mode in STOPS else STATIONS[mode][1]
                    stop_left = float(self.rng.uniform(*dwell))
                    next_stop = s + self._next_stop(mode)
            s = min(total, s + v * dt)
            t += dt
            ts.append(t)
            ss.append(s)
        t_arr = np.array(ts[1:])
        s_arr = np.array(ss[1:])
        keep = np.ones(len(t_arr), dtype=bool)
        if mode == "subway":
            # Underground: the fix is lost between stations; a fix now and then at one.
            keep = self.rng.random(len(t_arr)) < 0.08
            keep[-1] = True
        if self.phone and mode not in ("plane",):
            # A phone saving battery: whole minutes with no fix.
            keep &= self.rng.random(len(t_arr)) < 0.6
            keep[-1] = True
        t_arr, s_arr = t_arr[keep], s_arr[keep]
        x = np.interp(s_arr, cum, poly[:, 0])
        y = np.interp(s_arr, cum, poly[:, 1])
        x += self.rng.normal(0, self.noise_m, len(x))
        y += self.rng.normal(0, self.noise_m, len(y))
        lat, lon = _to_latlon(x, y)
        label = TRUTH_MODE.get(mode, mode)
        self.parts.append((t_arr, lat, lon, np.full(len(t_arr), MODE_INDEX[label]),
                           np.full(len(t_arr), -1)))
        self.trips.append((self.t, t, label))
        self.last_was_stay = False
        self.t = t
        self.pos = dest.copy()

    def _next_stop(self, mode: str) -> float:
        if mode in STATIONS:  # where the stations are: regular, not random
            return float(self.rng.uniform(*STATIONS[mode][0]))
        if mode not in STOPS:
            return float("inf")
        return float(self.rng.exponential(STOPS[mode][0]))


def generate(days: int = 3, seed: int = 0, sample_s: tuple[float, float] = (1.0, 5.0),
             noise_m: float = 5.0, sparse_stay_prob: float = 0.3, spike_rate: float = 0.001,
             bad_accuracy_rate: float = 0.0005, duplicate_rate: float = 0.0005,
             transit: bool = False, pace: dict[str, float] | None = None,
             phone: bool = False) -> Truth:
    """A person's ``days`` days of location history with its truth.

    ``transit``: days ride buses, the subway, regional and long-distance trains and the
    motorway too. ``pace``: this person's cruise speed per mode as a factor (a brisk
    walker: ``{"walk": 1.7}``). ``phone``: moving fixes come as a phone logs them to
    save battery, four in ten missing.
    """
    g = _Gen(seed, sample_s, noise_m, sparse_stay_prob, pace, phone)
    rng = g.rng
    home = np.array([0.0, 0.0])
    work = np.array([rng.uniform(4000, 7000), rng.uniform(-2000, 2000)])
    lunch = work + np.array([rng.uniform(400, 700), rng.uniform(-300, 300)])
    shop = np.array([rng.uniform(-2500, -1500), rng.uniform(1500, 3000)])
    gym = np.array([rng.uniform(1000, 2000), rng.uniform(-3500, -2500)])
    city = np.array([rng.uniform(60_000, 90_000), rng.uniform(-20_000, 20_000)])
    city_spot = city + np.array([1500.0, 800.0])
    far = np.array([rng.uniform(600_000, 900_000), rng.uniform(-300_000, 300_000)])
    far_spot = far + np.array([2000.0, -1500.0])

    if transit:  # drawn only then: without transit a seed gives the same days as before
        station = np.array([rng.uniform(-900, -500), rng.uniform(300, 700)])
        work_station = work + np.array([rng.uniform(200, 400), rng.uniform(-300, -100)])
        far_city = np.array([rng.uniform(250_000, 400_000), rng.uniform(-80_000, 80_000)])
        far_city_spot = far_city + np.array([1200.0, 900.0])

    day0 = START_TS
    for d in range(days):
        g.t = max(g.t, day0 + d * 86400.0)
        wake = day0 + d * 86400.0 + 7 * 3600 + rng.uniform(0, 3600)
        if g.t < wake:
            g.stay(wake - g.t)
        kind = rng.random()
        pt = rng.random() if transit else 1.0
        if pt < 0.12 and d > 0:
            # A long-distance train to a city hundreds of km away and back.
            g.travel(station, "walk")
            g.stay(rng.uniform(420, 900), sparse=False)
            g.travel(far_city, "train")
            g.stay(rng.uniform(900, 1800), sparse=False)
            g.travel(far_city_spot, "walk")
            g.stay(rng.uniform(2 * 3600, 4 * 3600))
            g.travel(far_city, "walk")
            g.stay(rng.uniform(600, 1200), sparse=False)
            g.travel(station, "train")
            g.stay(rng.uniform(300, 600), sparse=False)
            g.travel(home, "walk")
        elif pt < 0.22 and d > 0:
            # A motorway drive to the next city and back.
            g.travel(city, "motorway")
            g.stay(rng.uniform(2 * 3600, 4 * 3600))
            g.travel(home, "motorway")
        elif pt < 0.45:
            # Commuting by bus or by subway (walking to and from the stops).
            ride = "bus" if rng.random() < 0.5 else "subway"
            g.travel(station, "walk")
            g.stay(rng.uniform(300, 480), sparse=False)
            g.travel(work_station, ride)
            g.stay(rng.uniform(300, 420), sparse=False)
            g.travel(work, "walk")
            g.stay(rng.uniform(3.5 * 3600, 4.5 * 3600))
            g.travel(lunch, "walk")
            g.stay(rng.uniform(1800, 3000))
            g.travel(work, "walk")
            g.stay(rng.uniform(3 * 3600, 4 * 3600))
            if rng.random() < 0.5:
                g.travel(work_station, "walk")
                g.stay(rng.uniform(300, 480), sparse=False)
                g.travel(station, "regional" if ride == "subway" else ride)
                g.stay(rng.uniform(300, 420), sparse=False)
                g.travel(home, "walk")
            else:
                g.travel(home, "bus")
        elif kind < 0.12 and d > 0:
            # A day trip by train to another city.
            g.travel(city, "train")
            g.stay(rng.uniform(1800, 3600), sparse=False)
            g.travel(city_spot, "walk")
            g.stay(rng.uniform(3 * 3600, 5 * 3600))
            g.travel(city, "walk")
            g.stay(rng.uniform(900, 1800), sparse=False)
            g.travel(home, "train")
        elif kind < 0.2 and d > 0:
            # A flight there and back.
            g.travel(far, "plane")
            g.stay(rng.uniform(1800, 2700), sparse=False)
            g.travel(far_spot, "car")
            g.stay(rng.uniform(4 * 3600, 6 * 3600))
            g.travel(far, "car")
            g.stay(rng.uniform(1800, 2700), sparse=False)
            g.travel(home, "plane")
        else:
            commute = "bike" if rng.random() < 0.5 else "car"
            g.travel(work, commute)
            g.stay(rng.uniform(3 * 3600, 4 * 3600))
            g.travel(lunch, "walk")
            g.stay(rng.uniform(1800, 3000))
            g.travel(work, "walk")
            g.stay(rng.uniform(3 * 3600, 4.5 * 3600))
            if rng.random() < 0.5:
                g.travel(shop, "car" if commute == "car" else "bike")
                g.stay(rng.uniform(1200, 2400), sparse=False)
            if rng.random() < 0.3:
                g.travel(gym, "bike")
                g.stay(rng.uniform(3600, 5400))
            g.travel(home, "car" if commute == "car" else "bike")
        end = day0 + (d + 1) * 86400.0
        if g.t < end:
            g.stay(end - g.t)

    ts = np.concatenate([p[0] for p in g.parts])
    lat = np.concatenate([p[1] for p in g.parts])
    lon = np.concatenate([p[2] for p in g.parts])
    mode = np.concatenate([p[3] for p in g.parts]).astype(np.int64)
    stay = np.concatenate([p[4] for p in g.parts]).astype(np.int64)
    n = len(ts)
    acc = np.round(rng.uniform(3.0, 15.0, n), 1)
    out = np.zeros(n, dtype=bool)
    # Corruptions, kept apart from each other and from the ends (a spike needs neighbours).
    idx = rng.permutation(np.arange(2, n - 2))
    n_spike = int(n * spike_rate)
    n_acc = int(n * bad_accuracy_rate)
    n_dup = int(n * duplicate_rate)
    chosen = np.sort(idx[: 4 * (n_spike + n_acc + n_dup)])
    chosen = chosen[np.concatenate([[True], np.diff(chosen) > 3])]
    chosen = rng.permutation(chosen)
    spikes = chosen[:n_spike]
    bad = chosen[n_spike:n_spike + n_acc]
    dups = chosen[n_spike + n_acc:n_spike + n_acc + n_dup]
    for sel, lo, hi in ((spikes, 300.0, 3000.0), (bad, 300.0, 1500.0)):
        r = rng.uniform(lo, hi, len(sel))
        a = rng.uniform(0, 2 * np.pi, len(sel))
        lat[sel] += r * np.sin(a) / (EARTH_RADIUS_M * DEG)
        lon[sel] += r * np.cos(a) / (EARTH_RADIUS_M * DEG * np.cos(lat[sel] * DEG))
    acc[bad] = np.round(rng.uniform(300, 1500, len(bad)), 1)
    out[spikes] = True
    out[bad] = True
    # Duplicates: a second fix with the same timestamp, a few metres off, right after.
    dup_lat = lat[dups] + rng.normal(0, 5, len(dups)) / (EARTH_RADIUS_M * DEG)
    dup_lon = lon[dups] + rng.normal(0, 5, len(dups)) / (EARTH_RADIUS_M * DEG)
    ins = np.sort(dups) + 1
    order = np.argsort(dups)
    ts = np.insert(ts, ins, ts[np.sort(dups)])
    lat = np.insert(lat, ins, dup_lat[order])
    lon = np.insert(lon, ins, dup_lon[order])
    acc = np.insert(acc, ins, acc[np.sort(dups)])
    mode = np.insert(mode, ins, mode[np.sort(dups)])
    stay = np.insert(stay, ins, stay[np.sort(dups)])
    out = np.insert(out, ins, True)
    return Truth(ts, lat, lon, acc, out, mode, stay, g.stays, g.trips)


def insert_points(conn: sqlite3.Connection, truth: Truth, index: np.ndarray | None = None,
                  source: str = "groundtruth") -> None:
    """Insert the truth's points (all, or ``index`` of them in that order) in one transaction."""
    sel = np.arange(len(truth)) if index is None else np.asarray(index)
    rows = zip(truth.ts[sel].tolist(), truth.lat[sel].tolist(), truth.lon[sel].tolist(),
               truth.accuracy[sel].tolist(), [source] * len(sel), strict=True)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?, ?, ?, ?, ?)",
                     rows)
    conn.execute("COMMIT")


def match_intervals(truth: list[tuple[float, float]], found: list[tuple[float, float]],
                    min_share: float = 0.5) -> int:
    """Number of one-to-one matches: overlap at least ``min_share`` of the shorter one."""
    pairs = []
    for i, (a0, a1) in enumerate(truth):
        for j, (b0, b1) in enumerate(found):
            ov = min(a1, b1) - max(a0, b0)
            if ov > 0 and ov >= min_share * max(1e-9, min(a1 - a0, b1 - b0)):
                pairs.append((ov, i, j))
    used_t, used_f, n = set(), set(), 0
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            n += 1
    return n


def f1(n_match: int, n_truth: int, n_found: int) -> float:
    if n_truth == 0 and n_found == 0:
        return 1.0
    p = n_match / n_found if n_found else 0.0
    r = n_match / n_truth if n_truth else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(truth: Truth, conn: sqlite3.Connection) -> dict[str, float]:
    """Scores of the chain's results against the truth (points inserted in truth order)."""
    rows = conn.execute("SELECT point_id, is_outlier, transport_mode FROM point_analysis "
                        "WHERE point_id > 0 ORDER BY point_id").fetchall()
    flagged = np.array([r[1] for r in rows], dtype=bool)
    tp = int(np.count_nonzero(flagged & truth.is_outlier))
    recall = tp / max(1, int(truth.is_outlier.sum()))
    precision = tp / max(1, int(flagged.sum()))
    moving = (truth.mode != MODE_INDEX["stationary"]) & ~truth.is_outlier & ~flagged
    pred = np.array([MODE_INDEX.get(r[2], -1) if r[2] else -1 for r in rows])
    acc = float(np.mean(pred[moving] == truth.mode[moving])) if moving.any() else 1.0
    stays = conn.execute("SELECT start_ts, end_ts FROM stays ORDER BY start_ts").fetchall()
    t_stays = [(s[0], s[1]) for s in truth.stays]
    m = match_intervals(t_stays, stays)
    trips = conn.execute("SELECT start_ts, end_ts FROM trips ORDER BY start_ts").fetchall()
    t_trips = [(t[0], t[1]) for t in truth.trips]
    mt = match_intervals(t_trips, trips)
    return {"outlier_recall": recall, "outlier_precision": precision, "mode_accuracy": acc,
            "stay_f1": f1(m, len(t_stays), len(stays)), "trip_f1": f1(mt, len(t_trips), len(trips)),
            "stays_truth": len(t_stays), "stays_found": len(stays), "trips_truth": len(t_trips),
            "trips_found": len(trips)}


__all__ = ["Truth", "evaluate", "generate", "insert_points", "MODES"]
