"""An independent generator of one person's location history, with ground truth.

Written without looking at the analysis skills: it knows only the points table, the CSV
import path and the result tables of docs/SKILLS.md. It exists to judge the skills on data
they were not tuned on (issue 20). See tests/gen2/README.md for the model and its numbers.

The person lives in a city (a flat metric frame around home), commutes to work, has lunch,
goes to the gym, shops, visits friends and parents in another city (long-distance train or
motorway car) and once flies abroad. Every movement is simulated second by second along a
wiggly path with stops: traffic lights, bus stops, stations. A phone then logs it the way
phones do: dense when moving, rarely at a place, not at all underground or in the air, with
hours and days missing, correlated noise, a reported accuracy and a few wild jumps.

Only numpy and the standard library: the tests and the bench import it.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

# Modes of the ground truth, per point. Subway, tram and all rail are TRAIN (issue 20).
STATIONARY, WALK, BIKE, CAR, BUS, TRAIN, PLANE = range(7)
MODE_NAMES = ("stationary", "walk", "bike", "car", "bus", "train", "plane")

EARTH_R = 6_371_008.8
HOME_LAT, HOME_LON = 48.137, 11.575  # a central-European city; any would do

# Cruise speed ranges (m/s), acceleration, braking (m/s²) per vehicle kind. The ranges are
# what riders see, not limits: a bus at 30-47 km/h between stops, a regional express at
# 80-160 km/h, a motorway at 90-135 km/h.
KINDS: dict[str, dict] = {
    "walk": dict(mode=WALK, v=(1.05, 1.6), a=0.6, b=0.8),
    "bike": dict(mode=BIKE, v=(3.6, 6.4), a=0.8, b=1.2),
    "car_city": dict(mode=CAR, v=(8.5, 14.5), a=2.0, b=2.5),
    "car_motorway": dict(mode=CAR, v=(25.0, 37.5), a=1.5, b=2.0),
    "bus": dict(mode=BUS, v=(8.5, 13.0), a=1.1, b=1.3),
    "tram": dict(mode=TRAIN, v=(8.5, 13.5), a=1.0, b=1.2),
    "subway": dict(mode=TRAIN, v=(15.0, 22.0), a=1.0, b=1.1),
    "regional": dict(mode=TRAIN, v=(20.0, 30.0), a=0.7, b=0.8),
    "intercity": dict(mode=TRAIN, v=(22.0, 44.5), a=0.4, b=0.6),
    "plane": dict(mode=PLANE, v=(215.0, 245.0), a=1.8, b=0.9),
    "plane_taxi": dict(mode=PLANE, v=(5.0, 9.0), a=1.0, b=1.0),
}


# --------------------------------------------------------------------------- geometry


def to_latlon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres east/north of home to WGS-84 (equirectangular; the truth uses the same)."""
    lat = HOME_LAT + np.degrees(np.asarray(y) / EARTH_R)
    lon = HOME_LON + np.degrees(np.asarray(x) / (EARTH_R * math.cos(math.radians(HOME_LAT))))
    return lat, lon


def haversine(lat1, lon1, lat2, lon2):
    """Great-circle metres, vectorised."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_R * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _path(rng: np.random.Generator, a, b, wiggle: float, step_m: float) -> np.ndarray:
    """A street- or track-like polyline from a to b: waypoints every ~step_m, pushed
    sideways by a smoothed random walk (streets detour ~20-35 %, rail a few %)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = float(np.hypot(*(b - a)))
    n = max(2, int(d / step_m) + 2)
    f = np.linspace(0.0, 1.0, n)
    base = a + f[:, None] * (b - a)
    if d < 1.0:
        return base
    normal = np.array([-(b - a)[1], (b - a)[0]]) / d
    walk = np.cumsum(rng.normal(0.0, wiggle * step_m, n))
    walk -= f * walk[-1]  # pinned at both ends
    off = walk * np.sin(np.pi * f) ** 0.3
    pts = base + off[:, None] * normal
    if wiggle > 0.15:  # city blocks: snap alternate legs to the axes, an L per block
        out = [pts[0]]
        for p in pts[1:]:
            q = out[-1]
            corner = np.array([p[0], q[1]]) if rng.random() < 0.5 else np.array([q[0], p[1]])
            out += [corner, p]
        pts = np.array(out)
    return pts


def _cum(path: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])


# --------------------------------------------------------------------------- kinematics


@dataclass
class Piece:
    """A stretch of the true timeline: a stay (2 samples) or a 1 Hz movement."""

    t: np.ndarray  # UTC seconds
    x: np.ndarray
    y: np.ndarray
    mode: np.ndarray  # per sample, MODE codes
    kind: str  # 'stay', 'wait', or a KINDS key
    stay: int = -1  # index into stays for kind == 'stay'
    underground: bool = False
    in_air: np.ndarray | None = None  # plane: samples above ground


def _drive(rng, path, kind: str, stops: list[tuple[float, float]], t0: float,
           light_every: tuple[float, float] | None = None, light_p: float = 0.0,
           light_wait: tuple[float, float] = (10, 60)) -> Piece:
    """Simulate one vehicle (or walker) along path at 1 s steps.

    stops: (distance along path, dwell s) where it must stop (stations, bus stops); the
    end of the path is always a stop. Traffic lights add random stops. Cruise speed drifts
    every 20-120 s within the kind's range, so no two rides have the same profile."""
    spec = KINDS[kind]
    cum = _cum(path)
    total = float(cum[-1])
    st = sorted([(s, w) for s, w in stops if 0 < s < total] + [(total, 0.0)])
    if light_every and total > 50:
        s = rng.uniform(*light_every)
        while s < total - 30:
            if rng.random() < light_p:
                st.append((s, float(rng.uniform(*light_wait))))
            s += rng.uniform(*light_every)
        st.sort()
    vmin, vmax = spec["v"]
    a, b = spec["a"], spec["b"]
    cruise = rng.uniform(vmin, vmax)
    next_change = rng.uniform(20, 120)
    s_list, v = [0.0], 0.0
    s = 0.0
    k = 0
    tt = 0.0
    while k < len(st):
        stop_s, dwell = st[k]
        tt += 1.0
        if tt >= next_change:
            cruise = float(np.clip(cruise + rng.normal(0, 0.12 * (vmax - vmin) + 0.1), vmin, vmax))
            next_change = tt + rng.uniform(20, 120)
        remaining = stop_s - s
        v_brake = math.sqrt(max(2.0 * b * remaining, 0.0))
        v = min(v + a, cruise, v_brake)
        v = max(v, min(0.5, remaining))  # creep into the stop instead of stalling before it
        s = min(s + v, stop_s)
        s_list.append(s)
        if stop_s - s < 0.05:
            s = stop_s
            s_list.extend([s] * int(round(dwell)))
            tt += round(dwell)
            v = 0.0
            k += 1
    sarr = np.array(s_list)
    x = np.interp(sarr, cum, path[:, 0])
    y = np.interp(sarr, cum, path[:, 1])
    t = t0 + np.arange(len(sarr), dtype=float)
    return Piece(t, x, y, np.full(len(t), spec["mode"], np.int8), kind)


def _stops_every(rng, total: float, gap: tuple[float, float], dwell: tuple[float, float],
                 skip_p: float = 0.0) -> list[tuple[float, float]]:
    out, s = [], rng.uniform(*gap)
    while s < total - gap[0] * 0.5:
        if rng.random() >= skip_p:
            out.append((s, float(rng.uniform(*dwell))))
        s += rng.uniform(*gap)
    return out


def _wait(t0: float, seconds: float, xy, mode: int, rng) -> Piece:
    """Standing at a stop or on a platform: part of the trip, labelled with the vehicle's
    mode but excluded from the mode score (nobody moves)."""
    n = max(2, int(seconds))
    jitter = rng.normal(0, 3.0, (2,))
    return Piece(t0 + np.arange(n, dtype=float), np.full(n, xy[0] + jitter[0]),
                 np.full(n, xy[1] + jitter[1]), np.full(n, mode, np.int8), "wait")


# --------------------------------------------------------------------------- the person


@dataclass
class Place:
    name: str
    x: float
    y: float
    tz_h: float  # local UTC offset in hours


@dataclass
class GroundTruth:
    """Everything the scorer needs. Arrays are per logged fix, sorted by time."""

    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy: np.ndarray
    mode: np.ndarray  # MODE codes (the person's activity at that instant)
    waiting: np.ndarray  # bool: standing at a stop/platform inside a trip
    jump: np.ndarray  # bool: an injected 100-500 m jump (a wrong fix)
    stay_idx: np.ndarray  # index into true_stays or -1
    true_stays: list[dict]  # start, end (true arrival/departure), place, lat, lon
    legs: list[dict]  # start, end, kind, mode, distance_m (every movement, in order)
    blackouts: list[tuple[float, float]]  # intervals with no logging at all
    params: dict = field(default_factory=dict)

    def observed_stays(self, split_gap_s: float = 24 * 3600) -> list[dict]:
        """True stays as a logger can know them: from the first to the last fix inside
        the stay (jumps excluded), split where logging stopped for more than
        split_gap_s (a week without data at home is not known to be one visit), kept when
        at least 2 fixes span at least 60 s."""
        out = []
        ok = ~self.jump
        for i, st in enumerate(self.true_stays):
            sel = np.flatnonzero((self.stay_idx == i) & ok)
            if len(sel) < 2:
                continue
            t = self.ts[sel]
            cuts = np.flatnonzero(np.diff(t) > split_gap_s) + 1
            for part in np.split(t, cuts):
                if len(part) >= 2 and part[-1] - part[0] >= 60:
                    out.append(dict(start=float(part[0]), end=float(part[-1]), place=st["place"],
                                    lat=st["lat"], lon=st["lon"], n=len(part), stay=i))
        out.sort(key=lambda s: s["start"])
        return out

    def visits(self, min_s: float = 300.0) -> list[dict]:
        """True stays as the person lived them (arrival to departure, the silences of a
        sleeping phone included), of at least ``min_s``, with at least one fix inside:
        what a timeline should show. observed_stays() ends each at its last fix."""
        out = []
        ok = ~self.jump
        for i, st in enumerate(self.true_stays):
            if st["end"] - st["start"] < min_s or not ((self.stay_idx == i) & ok).any():
                continue
            out.append(dict(start=float(st["start"]), end=float(st["end"]),
                            place=st["place"], lat=st["lat"], lon=st["lon"], stay=i))
        out.sort(key=lambda s: s["start"])
        return out

    def observed_trips(self, max_gap_s: float = 6 * 3600,
                       stays: list[dict] | None = None) -> list[dict]:
        """Trips between consecutive observed stays (observed end of one to observed start
        of the next), when the person really moved in between and logging did not stop
        for more than max_gap_s inside (nobody knows what happened then). Main mode: the
        mode with the most true distance of the legs inside. ``stays``: other stays to
        go between (visits() for trips from departure to arrival)."""
        stays = self.observed_stays() if stays is None else stays
        leg_start = np.array([g["start"] for g in self.legs])
        out = []
        for a, b in zip(stays, stays[1:], strict=False):
            if a["stay"] == b["stay"]:
                continue  # one stay split by a long logging gap
            inside = np.flatnonzero((self.ts > a["end"]) & (self.ts < b["start"]))
            t = np.concatenate([[a["end"]], self.ts[inside], [b["start"]]])
            if np.max(np.diff(t)) > max_gap_s:
                continue
            lo = np.searchsorted(leg_start, a["end"])
            per: dict[int, float] = {}
            for g in self.legs[lo:]:
                if g["start"] >= b["start"]:
                    break
                per[g["mode"]] = per.get(g["mode"], 0.0) + g["distance_m"]
            if not per:
                continue
            main = max(per, key=per.get)
            out.append(dict(start=a["end"], end=b["start"], mode=MODE_NAMES[main],
                            distance_m=sum(per.values()), origin=a["place"], dest=b["place"]))
        return out


class _Life:
    """Builds the true timeline (stays and 1 Hz movements) day by day."""

    def __init__(self, rng: np.random.Generator, tz_travel: bool) -> None:
        self.rng = rng
        self.pieces: list[Piece] = []
        self.stays: list[dict] = []
        self.legs: list[dict] = []
        r = rng
        home_tz = 1.0
        far_tz = home_tz + (2.0 if tz_travel else 0.0)

        def polar(d_lo, d_hi, origin=(0.0, 0.0), tz=home_tz, name=""):
            ang = r.uniform(0, 2 * np.pi)
            d = r.uniform(d_lo, d_hi)
            return Place(name, origin[0] + d * math.cos(ang), origin[1] + d * math.sin(ang), tz)

        self.home = Place("home", 0.0, 0.0, home_tz)
        self.work = polar(3500, 11000, name="work")
        self.places = {
            "home": self.home,
            "work": self.work,
            "main_station": polar(1500, 3500, name="main_station"),
            "gym": polar(800, 4000, name="gym"),
            "supermarket": polar(300, 900, name="supermarket"),
            "friend": polar(2000, 8000, name="friend"),
            "friend2": polar(5000, 14000, name="friend2"),
            "park": polar(600, 2500, name="park"),
            "cinema": polar(1500, 6000, name="cinema"),
            "airport": polar(18000, 28000, name="airport"),
        }
        w = self.work
        self.places["lunch"] = polar(250, 700, (w.x, w.y), name="lunch")
        self.places["lunch2"] = polar(300, 900, (w.x, w.y), name="lunch2")
        # Parents 140-260 km away: day trips by intercity or motorway.
        par_city = polar(140_000, 260_000, name="parents_city")
        self.places["parents_station"] = Place("parents_station", par_city.x, par_city.y, home_tz)
        self.places["parents"] = polar(800, 3000, (par_city.x, par_city.y), name="parents")
        # Abroad, 900-1400 km away, maybe in another time zone.
        far = polar(900_000, 1_400_000, name="far_city")
        self.places["far_airport"] = polar(15000, 25000, (far.x, far.y), far_tz, "far_airport")
        for nm, lo, hi in (("hotel", 300, 1500), ("museum", 1500, 5000),
                           ("restaurant", 500, 2500), ("old_town", 1000, 3500)):
            self.places[nm] = polar(lo, hi, (far.x, far.y), far_tz, nm)
        self.far_tz = far_tz
        # Commute habits: one person, their own mix.
        self.commute_p = r.dirichlet([3, 2, 2, 2, 1])  # subway, bike, bus, car, tram
        self.at = self.home
        self.t = 0.0

    # ---- timeline primitives
    def stay_until(self, t_end: float) -> None:
        """Stay at the current place until t_end (extends the running stay)."""
        if t_end <= self.t:
            return
        p = self.at
        if self.stays and self.stays[-1]["end"] == self.t and self.stays[-1]["place"] == p.name:
            self.stays[-1]["end"] = t_end
            pc = self.pieces[-1]
            pc.t[-1] = t_end
        else:
            off = self.rng.normal(0, 12.0, 2)  # where in the building
            lat, lon = to_latlon(np.array([p.x]), np.array([p.y]))
            self.stays.append(dict(start=self.t, end=t_end, place=p.name,
                                   lat=float(lat[0]), lon=float(lon[0])))
            self.pieces.append(Piece(np.array([self.t, t_end]), np.full(2, p.x + off[0]),
                                     np.full(2, p.y + off[1]),
                                     np.zeros(2, np.int8), "stay", len(self.stays) - 1))
        self.t = t_end

    def _add(self, pc: Piece) -> float:
        # Each piece starts one second after the previous one ends.
        self.pieces.append(pc)
        step = np.hypot(np.diff(pc.x), np.diff(pc.y))  # m per 1 s step
        # Stops: runs of standing still inside the leg (lights, bus stops, stations).
        still = np.flatnonzero(step == 0)
        runs = np.split(still, np.flatnonzero(np.diff(still) > 1) + 1) if len(still) else []
        stops = [len(r_) for r_ in runs if len(r_) >= 5]
        self.legs.append(dict(start=float(pc.t[0]), end=float(pc.t[-1]), kind=pc.kind,
                              mode=int(pc.mode[0]), distance_m=float(step.sum()),
                              max_speed=float(step.max(initial=0.0)), stops_s=stops))
        return float(pc.t[-1]) + 1.0

    def _ride(self, kind, a, b, t, stops_gap=None, dwell=None, skip_p=0.0, wiggle=None,
              lights=None, underground=False) -> tuple[float, np.ndarray]:
        r = self.rng
        city = kind in ("walk", "bike", "car_city", "bus", "tram")
        path = _path(r, a, b, wiggle if wiggle is not None else (0.25 if city else 0.03),
                     step_m=150 if city else 2000 if kind in ("intercity", "plane") else 500)
        total = float(_cum(path)[-1])
        stops = _stops_every(r, total, stops_gap, dwell, skip_p) if stops_gap else []
        le, lp, lw = lights or (None, 0.0, (10, 60))
        pc = _drive(r, path, kind, stops, t, le, lp, lw)
        pc.underground = underground
        return self._add(pc), path[-1]

    def _walk(self, a, b, t) -> tuple[float, np.ndarray]:
        return self._ride("walk", a, b, t, lights=((80, 350), 0.3, (5, 40)))

    def _near(self, p, lo, hi):
        ang = self.rng.uniform(0, 2 * np.pi)
        d = self.rng.uniform(lo, hi)
        return np.array([p[0] + d * math.cos(ang), p[1] + d * math.sin(ang)])

    # ---- a trip from the current place to dest, leaving now
    def go(self, dest: Place, how: str) -> None:
        r = self.rng
        a = np.array([self.at.x, self.at.y])
        b = np.array([dest.x, dest.y])
        t = self.t + 1.0
        if how == "walk":
            t, _ = self._walk(a, b, t)
        elif how == "bike":
            p1 = self._near(a, 10, 40)
            t, _ = self._walk(a, p1, t)
            t, e = self._ride("bike", p1, self._near(b, 10, 40), t,
                              lights=((250, 700), 0.4, (10, 45)))
            t, _ = self._walk(e, b, t)
        elif how in ("car", "taxi"):
            p1 = self._near(a, 20, 120)
            t, _ = self._walk(a, p1, t)
            d = float(np.hypot(*(b - a)))
            if d > 25_000:  # city, motorway, city
                u = (b - a) / d
                m1 = a + u * r.uniform(2500, 5000)
                m2 = b - u * r.uniform(2500, 5000)
                t, e = self._ride("car_city", p1, m1, t, lights=((200, 600), 0.45, (10, 70)))
                jam = r.random() < 0.15
                if jam:  # stop-and-go on the motorway for a few km
                    mj = m1 + (m2 - m1) * r.uniform(0.3, 0.6)
                    t, e = self._ride("car_motorway", e, mj, t, wiggle=0.02,
                                      stops_gap=(300, 900), dwell=(5, 60))
                t, e = self._ride("car_motorway", e, m2, t, wiggle=0.02)
                t, e = self._ride("car_city", e, self._near(b, 20, 120), t,
                                  lights=((200, 600), 0.45, (10, 70)))
            else:
                t, e = self._ride("car_city", p1, self._near(b, 20, 120), t,
                                  lights=((200, 600), 0.45, (10, 70)))
            t, _ = self._walk(e, b, t)
        elif how in ("bus", "tram"):
            s1, s2 = self._near(a, 100, 450), self._near(b, 100, 450)
            t, _ = self._walk(a, s1, t)
            t = self._wait_piece(t, s1, BUS if how == "bus" else TRAIN, 60, 480)
            gap = (300, 800) if how == "bus" else (350, 750)
            dw = (20, 60) if how == "bus" else (15, 40)
            t, e = self._ride(how, s1, s2, t, stops_gap=gap, dwell=dw,
                              skip_p=0.15, lights=((250, 700), 0.3, (10, 50)))
            t, _ = self._walk(e, b, t)
        elif how == "subway":
            s1, s2 = self._near(a, 200, 700), self._near(b, 200, 700)
            t, _ = self._walk(a, s1, t)
            t = self._wait_piece(t, s1, TRAIN, 60, 360)
            t, e = self._ride("subway", s1, s2, t, stops_gap=(1000, 4000), dwell=(20, 45),
                              wiggle=0.05, underground=True)
            t, _ = self._walk(e, b, t)
        elif how == "regional":  # suburban rail, e.g. to the airport; above ground
            s1, s2 = self._near(a, 300, 800), self._near(b, 100, 400)
            t, _ = self._walk(a, s1, t)
            t = self._wait_piece(t, s1, TRAIN, 120, 600)
            t, e = self._ride("regional", s1, s2, t, stops_gap=(2000, 5000), dwell=(30, 70))
            t, _ = self._walk(e, b, t)
        elif how == "intercity":  # to the station (subway, tram or on foot), the long train
            home_city = float(np.hypot(*a)) < 50_000
            st_from = self.places["main_station" if home_city else "parents_station"]
            st_to = self.places["parents_station" if home_city else "main_station"]
            cur = np.array([st_from.x, st_from.y])
            if float(np.hypot(*(cur - a))) > 1500:
                s1 = self._near(a, 200, 700)
                t, _ = self._walk(a, s1, t)
                t = self._wait_piece(t, s1, TRAIN, 60, 300)
                if home_city:
                    t, _ = self._ride("subway", s1, cur, t, stops_gap=(1000, 4000),
                                      dwell=(20, 45), wiggle=0.05, underground=True)
                else:
                    t, _ = self._ride("tram", s1, cur, t, stops_gap=(350, 750),
                                      dwell=(15, 40), lights=((250, 700), 0.3, (10, 50)))
            else:
                t, _ = self._walk(a, cur, t)
            t = self._wait_piece(t, cur, TRAIN, 300, 900)
            t, e = self._ride("intercity", cur, (st_to.x, st_to.y), t,
                              stops_gap=(20_000, 70_000), dwell=(120, 480))
            if float(np.hypot(*(b - e))) > 1500:
                t = self._wait_piece(t, e, TRAIN, 60, 300)
                if home_city:
                    t, e = self._ride("tram", e, self._near(b, 100, 400), t,
                                      stops_gap=(350, 750), dwell=(15, 40),
                                      lights=((250, 700), 0.3, (10, 50)))
                else:
                    t, e = self._ride("subway", e, self._near(b, 200, 700), t,
                                      stops_gap=(1000, 4000), dwell=(20, 45), wiggle=0.05,
                                      underground=True)
            t, _ = self._walk(e, b, t)
        elif how == "plane":  # from an airport stay to dest (an airport) and out of it
            ap = self._near(a, 200, 400)
            t, _ = self._walk(a, ap, t)
            rw = self._near(ap, 2000, 3500)
            t, e = self._ride("plane_taxi", ap, rw, t, stops_gap=(600, 1500), dwell=(20, 120),
                              wiggle=0.05)
            t, e = self._ride("plane", e, self._near(b, 2000, 4000), t, wiggle=0.01)
            self.pieces[-1].in_air = np.ones(len(self.pieces[-1].t), bool)
            t, e = self._ride("plane_taxi", e, self._near(b, 200, 400), t, wiggle=0.05)
            t, _ = self._walk(e, b, t)
        else:
            raise ValueError(how)
        self.t = t
        self.at = dest

    def _wait_piece(self, t, xy, mode, lo, hi) -> float:
        pc = _wait(t, self.rng.uniform(lo, hi), xy, mode, self.rng)
        self.pieces.append(pc)
        return float(pc.t[-1]) + 1.0

    def choose_mode(self, dest: Place) -> str:
        r = self.rng
        d = math.hypot(dest.x - self.at.x, dest.y - self.at.y)
        abroad = self.at.tz_h != self.home.tz_h or dest.name in ("hotel", "museum",
                                                                 "restaurant", "old_town")
        if d < 1200:
            return "walk"
        if abroad:
            return str(r.choice(["walk", "subway", "taxi"], p=[0.2, 0.5, 0.3])) \
                if d < 3000 else str(r.choice(["subway", "taxi", "tram"], p=[0.5, 0.3, 0.2]))
        if d > 60_000:
            return "intercity" if r.random() < 0.7 else "car"
        if d < 3000:
            return str(r.choice(["walk", "bike", "bus"], p=[0.35, 0.35, 0.3]))
        modes = ["subway", "bike", "bus", "car", "tram"]
        p = self.commute_p.copy()
        if d > 10_000:
            p[1] *= 0.2
        return str(r.choice(modes, p=p / p.sum()))


def _local(day0_utc: float, hours: float, tz_h: float) -> float:
    return day0_utc + (hours - tz_h) * 3600.0


def _simulate(rng: np.random.Generator, days: int, start_utc: float, tz_travel: bool,
              active_days: np.ndarray) -> _Life:
    life = _Life(rng, tz_travel)
    life.t = _local(start_utc, 0.0, 1.0)
    P = life.places
    r = rng
    flight_day = None
    if days >= 14:
        fridays = [d for d in range(7, days - 7) if d % 7 == 4 and active_days[d]]
        flight_day = int(r.choice(fridays)) if fridays else None
    abroad_until = -1
    last_daytrip = -99
    for d in range(days):
        day0 = start_utc + d * 86400.0
        tz = life.at.tz_h
        wd = d % 7  # day 0 is a Monday
        if not active_days[d]:
            continue  # an unlogged stretch: the person is at home as far as we know
        if d == flight_day:
            life.stay_until(_local(day0, r.uniform(13.0, 15.5), tz))
            life.go(P["airport"], "regional")
            life.stay_until(life.t + r.uniform(60, 120) * 60)
            life.go(P["far_airport"], "plane")
            life.go(P["hotel"], "taxi")  # no stay at the arrival airport
            abroad_until = d + int(r.integers(3, 5))
            continue
        if flight_day is not None and flight_day < d < abroad_until:
            for dest in r.permutation(["museum", "restaurant", "old_town"])[: r.integers(1, 4)]:
                life.stay_until(max(life.t + r.uniform(40, 150) * 60,
                                    _local(day0, r.uniform(9.5, 11.0), tz)))
                life.go(P[str(dest)], life.choose_mode(P[str(dest)]))
            life.stay_until(life.t + r.uniform(40, 120) * 60)
            life.go(P["hotel"], life.choose_mode(P["hotel"]))
            continue
        if d == abroad_until:
            life.stay_until(_local(day0, r.uniform(8.5, 10.5), tz))
            life.go(P["far_airport"], "taxi")
            life.stay_until(life.t + r.uniform(60, 120) * 60)
            life.go(P["airport"], "plane")
            life.go(P["home"], "regional")
            continue
        if wd < 5:
            life.stay_until(_local(day0, r.uniform(7.0, 9.0), tz))
            life.go(life.work, life.choose_mode(life.work))
            if r.random() < 0.5:
                life.stay_until(max(life.t + 1800, _local(day0, r.uniform(12.0, 12.8), tz)))
                lunch = P["lunch"] if r.random() < 0.6 else P["lunch2"]
                life.go(lunch, "walk")
                life.stay_until(life.t + r.uniform(25, 55) * 60)
                life.go(life.work, "walk")
            life.stay_until(max(life.t + 1800, _local(day0, r.uniform(16.5, 18.5), tz)))
            if r.random() < 0.4:
                dest = P[str(r.choice(["gym", "supermarket", "friend", "cinema"]))]
                life.go(dest, life.choose_mode(dest))
                life.stay_until(life.t + r.uniform(35, 120) * 60)
            life.go(life.home, life.choose_mode(life.home))
            if r.random() < 0.15:
                life.stay_until(max(life.t + 1800, _local(day0, r.uniform(19.3, 20.5), tz)))
                dest = P[str(r.choice(["friend", "friend2", "cinema"]))]
                life.go(dest, life.choose_mode(dest))
                life.stay_until(life.t + r.uniform(90, 180) * 60)
                life.go(life.home, life.choose_mode(life.home))
        else:
            if wd == 5 and d - last_daytrip > 12 and r.random() < 0.5:
                last_daytrip = d
                life.stay_until(_local(day0, r.uniform(8.0, 10.0), tz))
                life.go(P["parents"], life.choose_mode(P["parents"]))
                life.stay_until(max(life.t + 3 * 3600, _local(day0, r.uniform(16.0, 18.5), tz)))
                life.go(life.home, life.choose_mode(life.home))
                continue
            for _ in range(int(r.integers(1, 3))):
                life.stay_until(max(life.t + 1800, _local(day0, r.uniform(10.0, 15.0), tz)))
                dest = P[str(r.choice(["park", "supermarket", "friend", "friend2", "gym"]))]
                life.go(dest, life.choose_mode(dest))
                life.stay_until(life.t + r.uniform(50, 180) * 60)
                life.go(life.home, life.choose_mode(life.home))
    life.stay_until(max(life.t + 3600, start_utc + days * 86400.0))
    return life


# --------------------------------------------------------------------------- the phone


def _blackouts(rng, life: _Life, days: int, start_utc: float, active: np.ndarray):
    """Intervals the phone logged nothing: whole inactive days, a multi-day gap, phone off
    some nights, the app killed for a few hours now and then."""
    out = []
    d = 0
    while d < days:  # runs of inactive days
        if not active[d]:
            e = d
            while e < days and not active[e]:
                e += 1
            out.append((start_utc + d * 86400.0 - 3 * 3600, start_utc + e * 86400.0 + 5 * 3600))
            d = e
        d += 1
    for d in range(days):
        day0 = start_utc + d * 86400.0
        if rng.random() < 0.2:  # phone off at night
            out.append((day0 + rng.uniform(21.5, 23.0) * 3600, day0 + rng.uniform(29.0, 30.0) * 3600))
        if rng.random() < 0.08:  # app killed mid-day
            s = day0 + rng.uniform(9, 18) * 3600
            out.append((s, s + rng.uniform(1, 4) * 3600))
    return out


def _sample(rng, life: _Life, blackouts) -> dict[str, np.ndarray]:
    """Fix times per piece, positions by interpolation of the truth, then noise."""
    ts, xs, ys, md, wt, si, acc_kind = [], [], [], [], [], [], []
    # Sampling regime per trip: a trip = the pieces between two stays.
    regime = None
    for pc in life.pieces:
        t0, t1 = float(pc.t[0]), float(pc.t[-1])
        if pc.kind == "stay":
            regime = None
            base = math.exp(rng.uniform(math.log(60), math.log(600)))
            n = int((t1 - t0) / (base * 0.7)) + 3
            tt = t0 + rng.uniform(0, base) + np.cumsum(rng.uniform(0.7, 1.3, n) * base)
            tt = np.concatenate([[t0 + rng.uniform(0, 20)], tt])
            tt = tt[tt < t1]
        else:
            if regime is None:
                u = rng.random()
                regime = "dense" if u < 0.5 else "medium" if u < 0.85 else "sparse"
            if regime == "dense":
                iv = lambda n: rng.choice([1, 1, 1, 2, 2, 3, 4, 5], n).astype(float)  # noqa: E731
                step = 1.0
            elif regime == "medium":
                iv = lambda n: rng.uniform(5, 30, n)  # noqa: E731
                step = 5.0
            else:
                iv = lambda n: rng.uniform(60, 240, n)  # noqa: E731
                step = 60.0
            n = int((t1 - t0) / step) + 3
            tt = t0 + rng.uniform(0, step) + np.concatenate([[0.0], np.cumsum(iv(n))])
            tt = tt[tt <= t1]
            if pc.underground:
                # No signal below ground. At a station the phone sometimes gets one poor
                # fix (Wi-Fi or cell), else nothing until the walk out.
                stopped = np.flatnonzero(np.diff(pc.x) ** 2 + np.diff(pc.y) ** 2 == 0)
                keep = []
                if len(stopped):
                    runs = np.split(stopped, np.flatnonzero(np.diff(stopped) > 1) + 1)
                    for run_ in runs[:-1]:
                        if rng.random() < 0.2:
                            keep.append(pc.t[run_[len(run_) // 2]])
                tt = np.array(keep)
            elif pc.in_air is not None:
                # Flight mode: in the air nothing, unless this passenger forgot it (10 %),
                # and then a fix now and then at a window seat.
                if rng.random() < 0.9:
                    tt = tt[(tt < t0 + 90) | (tt > t1 - 60)]
                else:
                    tt = tt[rng.random(len(tt)) < 0.05]
            elif pc.kind == "intercity":
                # Tunnels and cuttings: a 30-300 s gap every ~30 km.
                n_t = rng.poisson((t1 - t0) * 30 / 30_000)
                for _ in range(n_t):
                    s = rng.uniform(t0, t1)
                    tt = tt[(tt < s) | (tt > s + rng.uniform(30, 300))]
        if len(tt) == 0:
            continue
        tt = np.round(tt)
        x = np.interp(tt, pc.t, pc.x)
        y = np.interp(tt, pc.t, pc.y)
        ts.append(tt)
        xs.append(x)
        ys.append(y)
        md.append(np.full(len(tt), pc.mode[0], np.int8))
        wt.append(np.full(len(tt), pc.kind == "wait"))
        si.append(np.full(len(tt), pc.stay if pc.kind == "stay" else -1))
        acc_kind.append(np.full(len(tt), 0 if pc.kind == "stay" else
                                1 if pc.kind in ("walk", "bike", "wait") else 2))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    cols = {k: np.concatenate(v)[order] for k, v in
            dict(ts=ts, x=xs, y=ys, mode=md, waiting=wt, stay_idx=si, ak=acc_kind).items()}
    keep = np.ones(len(t), bool)
    keep[1:] = np.diff(cols["ts"]) >= 1.0  # one fix per second at most
    for a, b in blackouts:
        keep &= ~((cols["ts"] >= a) & (cols["ts"] < b))
    return {k: v[keep] for k, v in cols.items()}


def _noise(rng, c: dict[str, np.ndarray]):
    n = len(c["ts"])
    ak = c["ak"]
    median = np.where(ak == 0, 18.0, np.where(ak == 1, 6.0, 10.0))
    acc = np.clip(median * np.exp(rng.normal(0, 0.5, n)), 3.0, 80.0)
    # Wi-Fi/cell fixes indoors: a wide circle, and truly that far off.
    cell = (ak == 0) & (rng.random(n) < 0.05)
    acc[cell] = rng.uniform(60, 1500, cell.sum())
    # The first fix after a long silence (e.g. leaving the subway) is poor.
    gap_before = np.concatenate([[1e9], np.diff(c["ts"])])
    cold = (gap_before > 120) & (ak != 0)
    acc[cold] = np.maximum(acc[cold], rng.uniform(20, 150, cold.sum()))
    # Correlated error, per axis sigma = accuracy / 2; correlation time 20 s.
    rho = np.exp(-np.minimum(gap_before, 1e4) / 20.0)
    z = rng.normal(0, 1, (n, 2))
    e = np.empty((n, 2))
    prev = np.zeros(2)
    s1 = np.sqrt(1 - rho ** 2)
    for i in range(n):  # an AR(1) recursion; 1e5 fixes take ~0.1 s
        prev = rho[i] * prev + s1[i] * z[i]
        e[i] = prev
    e *= (acc / 2.0)[:, None]
    # Jumps: 0.4 % of fixes land 100-500 m away; half of them still claim a good accuracy.
    jump = rng.random(n) < 0.004
    jump[1:] &= ~jump[:-1]
    nj = int(jump.sum())
    ang = rng.uniform(0, 2 * np.pi, nj)
    dist = rng.uniform(100, 500, nj)
    e[jump] = np.c_[dist * np.cos(ang), dist * np.sin(ang)]
    honest = rng.random(nj) < 0.5
    acc[np.flatnonzero(jump)[honest]] = dist[honest] * rng.uniform(0.8, 1.5, honest.sum())
    return e, np.round(acc, 1), jump


def generate(seed: int, days: int = 60, *, years: float = 0.0, tz_travel: bool = True,
             start: str = "2025-03-03") -> GroundTruth:
    """One person's history. days: the span simulated (ignored when years > 0). years:
    a span of that many years in which only stretches of 1-5 weeks are logged, with
    months between (an app installed, forgotten, reinstalled). start must be a Monday."""
    rng = np.random.default_rng(seed)
    start_utc = datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp()
    if years > 0:
        days = int(round(years * 365))
        active = np.zeros(days, bool)
        d = int(rng.integers(0, 20))
        while d < days:
            ln = int(rng.integers(7, 36))
            active[d: d + ln] = True
            d += ln + int(rng.integers(30, 200))
    else:
        active = rng.random(days) >= 0.05  # ~1 day in 20 with nothing logged
        if days >= 30:  # and one stretch of 2-5 days
            g = int(rng.integers(5, days - 10))
            active[g: g + int(rng.integers(2, 6))] = False
        active[0] = True
    life = _simulate(rng, days, start_utc, tz_travel, active)
    c = _sample(rng, life, _blackouts(rng, life, days, start_utc, active))
    err, acc, jump = _noise(rng, c)
    lat, lon = to_latlon(c["x"] + err[:, 0], c["y"] + err[:, 1])
    return GroundTruth(
        ts=c["ts"], lat=np.round(lat, 7), lon=np.round(lon, 7), accuracy=acc,
        mode=c["mode"], waiting=c["waiting"], jump=jump, stay_idx=c["stay_idx"],
        true_stays=life.stays, legs=life.legs, blackouts=_blackouts_of(c["ts"]),
        params=dict(seed=seed, days=days, years=years, tz_travel=tz_travel, start=start,
                    places={k: _place_dict(p) for k, p in life.places.items()}),
    )


def _place_dict(p: Place) -> dict:
    lat, lon = to_latlon(np.array([p.x]), np.array([p.y]))
    return dict(lat=float(lat[0]), lon=float(lon[0]), tz_h=p.tz_h)


def _blackouts_of(ts: np.ndarray, min_gap_s: float = 3600) -> list[tuple[float, float]]:
    """Logging gaps longer than min_gap_s, as seen in the fixes (for the README figures)."""
    g = np.flatnonzero(np.diff(ts) > min_gap_s)
    return [(float(ts[i]), float(ts[i + 1])) for i in g]


# --------------------------------------------------------------------------- import


def write_csv(gt: GroundTruth, path: str | os.PathLike) -> Path:
    """A plain CSV a logger app would export: epoch seconds, WGS-84, accuracy in metres."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "latitude", "longitude", "accuracy"])
        for t, la, lo, ac in zip(gt.ts, gt.lat, gt.lon, gt.accuracy, strict=True):
            w.writerow([int(t), f"{la:.7f}", f"{lo:.7f}", f"{ac:.1f}"])
    return path


def trackdesk_cmd() -> list[str]:
    """The real CLI, run as the installed program would be (same interpreter)."""
    return [sys.executable, "-m", "trackdesk"]


def import_into(gt: GroundTruth, db: str | os.PathLike, workdir: str | os.PathLike) -> None:
    """Write the CSV and import it through `trackdesk --db DB import FILE --wait`."""
    csv_path = write_csv(gt, Path(workdir) / f"gen2_seed{gt.params['seed']}.csv")
    proc = subprocess.run([*trackdesk_cmd(), "--db", str(db), "import", str(csv_path), "--wait"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"trackdesk import failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")


def point_ids(gt: GroundTruth, db: str | os.PathLike) -> np.ndarray:
    """points.id of each truth fix (-1 when missing)."""
    return fix_ids(gt.ts, gt.lat, gt.lon, db)


def fix_ids(ts: Sequence[float], lat: Sequence[float], lon: Sequence[float],
            db: str | os.PathLike) -> np.ndarray:
    """points.id of each fix (-1 when missing), matched on the import's normal form
    (millisecond, 1e-7 degree)."""
    import sqlite3

    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT id, ts, lat, lon FROM points").fetchall()
    finally:
        con.close()
    key = {(round(ts * 1000), round(la * 1e7), round(lo * 1e7)): i for i, ts, la, lo in rows}
    return np.array([key.get((round(t * 1000), round(la * 1e7), round(lo * 1e7)), -1)
                     for t, la, lo in zip(ts, lat, lon, strict=True)], dtype=np.int64)
