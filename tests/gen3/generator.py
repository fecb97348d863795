"""gen3: a third synthetic GPS life with ground truth, built independently of gen2's world.

Seeds whose last two digits are 0-49 (the intended range is 1-49) live in a large Asian
transit city; 50-99 in a car-centric North American suburb. One phone model for both: an
Android fused-location logger (Google Timeline-like). Only numpy and the standard library.

How it works, in four steps (numbers and reasons: tests/gen3/README.md):
 1. a world: stations and lines (rail), streets, an arterial grid and freeways (roads),
    places (home, office, shops, ...);
 2. a life: day plans executed by a simulator that moves the person second by second along
    paths (acceleration, braking, red lights, station dwells, queues), or keeps them at a
    place (a dwell; one of >= 5 minutes is a true stay);
 3. a phone: a state machine (active while moving, still after a while without movement,
    woken late by movement) choosing when a fix is logged and from which source (GPS,
    Wi-Fi, cell, coarse network, a cached stale fix), plus phone-off blackouts, underground
    without fixes and a 1 s sports tracker on some bike rides;
 4. errors: time-correlated GPS noise per environment, a fixed Wi-Fi bias per place, cell
    fixes hundreds of metres off (accuracy saying so), rare GPS glitches.

The result is tests.gen2.generator.GroundTruth so tests.gen2.scoring works unchanged.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tests.gen2.generator import (
    BIKE,
    BUS,
    CAR,
    MODE_NAMES,
    PLANE,
    STATIONARY,
    TRAIN,
    WALK,
    GroundTruth,
)

__all__ = ["generate", "world_of", "GroundTruth", "MODE_NAMES", "STATIONARY", "WALK",
           "BIKE", "CAR", "BUS", "TRAIN", "PLANE", "STAY_MIN_S"]

EARTH_R = 6_371_008.8
DAY = 86_400
STAY_MIN_S = 300  # a dwell at a place of at least 5 minutes is a true stay

# What the sky looks like to the phone (sets the GPS error; NOFIX: no fix at all).
OPEN, SUBURB, URBAN, RAIL, INDOOR, NOFIX, SPARSE = range(7)
GPS_SIGMA = {OPEN: 3.5, SUBURB: 5.0, URBAN: 9.0, RAIL: 12.0, INDOOR: 20.0, SPARSE: 15.0,
             NOFIX: 30.0}
# Fix sources.
GPS, WIFI, CELL, NET, STALE, DENSE, GLITCH, WIFI_ST = range(8)


def world_of(seed: int) -> str:
    return "asia" if seed % 100 < 50 else "suburb"


# --------------------------------------------------------------------------- geometry


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = math.hypot(v[0], v[1])
    return v / n if n > 0 else np.array([1.0, 0.0])


def _perp(v) -> np.ndarray:
    return np.array([-v[1], v[0]], float)


def _dist(a, b) -> float:
    return math.hypot(float(a[0]) - float(b[0]), float(a[1]) - float(b[1]))


def _polar(r: float, ang: float) -> np.ndarray:
    return np.array([r * math.cos(ang), r * math.sin(ang)])


def _near(rng, xy, r0: float, r1: float) -> np.ndarray:
    return np.asarray(xy, float) + _polar(rng.uniform(r0, r1), rng.uniform(0, 2 * math.pi))


class Path:
    """A polyline in metres (x east, y north) with cumulative length."""

    def __init__(self, pts):
        p = np.asarray(pts, float).reshape(-1, 2)
        if len(p) > 1:
            keep = np.ones(len(p), bool)
            keep[1:] = np.hypot(*np.diff(p, axis=0).T) > 1e-6
            p = p[keep]
        if len(p) == 1:
            p = np.vstack([p, p])
        self.pts = p
        self.cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
        self.length = float(self.cum[-1])

    @property
    def start(self) -> np.ndarray:
        return self.pts[0].copy()

    @property
    def end(self) -> np.ndarray:
        return self.pts[-1].copy()

    def at(self, s):
        s = np.asarray(s, float)
        return np.interp(s, self.cum, self.pts[:, 0]), np.interp(s, self.cum, self.pts[:, 1])

    def point(self, s: float) -> np.ndarray:
        x, y = self.at(s)
        return np.array([float(x), float(y)])

    def sub(self, s0: float, s1: float) -> Path:
        lo, hi = sorted((float(s0), float(s1)))
        inner = (self.cum > lo) & (self.cum < hi)
        pts = np.vstack([self.point(lo), self.pts[inner], self.point(hi)])
        return Path(pts[::-1] if s1 < s0 else pts)

    def reversed(self) -> Path:
        return Path(self.pts[::-1])

    def turns(self, min_deg: float = 40.0) -> list[tuple[float, float]]:
        """(s, turn angle in degrees) at interior vertices turning more than min_deg."""
        if len(self.pts) < 3:
            return []
        d = np.diff(self.pts, axis=0)
        h = np.arctan2(d[:, 1], d[:, 0])
        dh = np.degrees(np.abs((np.diff(h) + np.pi) % (2 * np.pi) - np.pi))
        return [(float(self.cum[i + 1]), float(a)) for i, a in enumerate(dh) if a > min_deg]


def join(paths: Sequence[Path]) -> Path:
    return Path(np.vstack([p.pts for p in paths]))


def curve(rng, a, b, wander: float = 0.03, step: float = 30.0, modes: int = 3) -> Path:
    """A smooth path from a to b: a straight line plus a few sine modes of lateral offset
    (zero at both ends), amplitude about wander x length."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    L = math.hypot(d[0], d[1])
    if L < 1.0:
        return Path([a, b])
    n = max(2, int(L / step) + 1)
    u = np.linspace(0.0, 1.0, n)
    off = np.zeros(n)
    for k in range(1, modes + 1):
        off += rng.normal(0.0, wander * L / k ** 1.5) * np.sin(k * np.pi * u)
    return Path(a + np.outer(u, d) + np.outer(off, _perp(d / L)))


def streets(rng, a, b, angle: float | None = None, bend: float = 0.0,
            turns: int | None = None) -> Path:
    """A street route: alternate legs along a (rotated) grid, the long legs bent a little
    (bend: sd in metres of the lateral offset of points every ~100 m)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    L = math.hypot(d[0], d[1])
    if L < 40.0:
        return Path([a, b])
    ang = rng.uniform(0, math.pi / 2) if angle is None else angle
    eu = np.array([math.cos(ang), math.sin(ang)])
    ev = _perp(eu)
    du, dv = float(d @ eu), float(d @ ev)
    k = turns or int(rng.integers(1, 2 + min(3, int(L // 900))))
    fu = rng.dirichlet(np.ones(k)) * du
    fv = rng.dirichlet(np.ones(k)) * dv
    pts = [a]
    p = a.copy()
    first_u = rng.random() < 0.5
    for i in range(k):
        for axis in ((0, 1) if first_u else (1, 0)):
            p = p + (fu[i] * eu if axis == 0 else fv[i] * ev)
            pts.append(p.copy())
    pts[-1] = b.copy()
    if bend > 0:
        out = [pts[0]]
        for p0, p1 in zip(pts, pts[1:], strict=False):
            seg = math.hypot(*(p1 - p0))
            n = int(seg // 110)
            if n >= 1:
                nrm = _perp(_unit(p1 - p0))
                for j in range(1, n + 1):
                    q = p0 + (p1 - p0) * j / (n + 1) + nrm * rng.normal(0, bend)
                    out.append(q)
            out.append(p1)
        pts = out
    return Path(np.array(pts))


# --------------------------------------------------------------------------- motion


def kinematics(rng, length: float, limits: Sequence[tuple[float, float]], acc: float,
               dec: float, events: Sequence[tuple[float, float, float]] = (),
               fluct: float = 0.05, tau: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Second-by-second distance and speed along a path of `length` metres.

    limits: (s_from, speed limit) pieces starting at 0. events: (s, cap, dwell): cap > 0 a
    speed cap at s (a turn, a ramp); cap == 0 a full stop at s for dwell seconds (a red
    light, a station, a bus stop). The speed follows the limit times a slow random factor
    (sd `fluct`, time constant `tau`), accelerates at `acc`, brakes at `dec` early enough
    for every cap and stop ahead. Returns s, v at t = 0, 1, ..., n (s[-1] == length)."""
    r = random.Random(int(rng.integers(2 ** 62)))
    if length <= 0.5:
        return np.array([0.0]), np.array([0.0])
    lim_s = [float(a) for a, _ in limits]
    lim_v = [float(v) for _, v in limits]
    soft: list[tuple[float, float]] = []
    hard: list[tuple[float, float]] = []
    for s, cap, dw in events:
        if 0.5 < s < length - 0.5:
            if cap <= 0:
                hard.append((float(s), float(dw)))
            else:
                soft.append((float(s), float(cap)))
    for i in range(1, len(lim_v)):
        if lim_v[i] < lim_v[i - 1]:
            soft.append((lim_s[i], lim_v[i]))
    soft.sort()
    hard.sort()
    hard.append((length, 0.0))
    look = max(lim_v) ** 2 / (2 * dec) + 30.0
    a = math.exp(-1.0 / tau)
    b = math.sqrt(1 - a * a)
    s = v = f = 0.0
    S, V = [0.0], [0.0]
    li = si = hi = 0
    nl, ns = len(lim_s), len(soft)
    guard = int(length / 0.1) + 200_000
    while len(S) < guard:
        while li + 1 < nl and lim_s[li + 1] <= s:
            li += 1
        f = a * f + b * r.gauss(0.0, 1.0)
        vt = lim_v[li] * min(1.1, max(0.25, 1.0 + fluct * f))
        tgt, dwell = hard[hi]
        rem = tgt - s
        vt = min(vt, math.sqrt(2 * dec * max(rem, 0.0)))
        k = si
        while k < ns and soft[k][0] - s <= look:
            sc, cap = soft[k]
            vt = min(vt, math.sqrt(cap * cap + 2 * dec * max(sc - s, 0.0)))
            k += 1
        vn = min(vt, v + acc) if vt >= v else max(vt, v - 2.0 * dec, 0.0)
        sn = s + 0.5 * (v + vn)
        if sn >= tgt - 0.3 or (rem < 1.5 and vn < 0.8):
            s, v = tgt, 0.0
            S.append(s)
            V.append(0.0)
            if hi == len(hard) - 1:
                break
            n = int(dwell)
            S.extend([s] * n)
            V.extend([0.0] * n)
            hi += 1
        else:
            s, v = sn, vn
            S.append(s)
            V.append(v)
        while si < ns and soft[si][0] <= s:
            si += 1
    return np.array(S), np.array(V)


def flight_profile(rng, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Runway to runway: take-off roll, climb, cruise, descent, landing roll (per second)."""
    vc = rng.uniform(225.0, 248.0)
    f = 1.0
    for _ in range(40):
        tc, td = int(1100 * f), int(1500 * f)
        d_roll = 80.0 ** 2 / (2 * 2.2)
        d_land = (75.0 ** 2 - 8.0 ** 2) / (2 * 2.0)
        rest = length - d_roll - d_land - (80 + vc) / 2 * tc - (vc + 75) / 2 * td
        if rest >= 0:
            break
        f *= 0.85
        vc = max(110.0, vc * 0.94)
    v = np.concatenate([np.arange(0.0, 80.0, 2.2), np.linspace(80, vc, max(tc, 2)),
                        np.full(max(int(rest / vc), 0), vc), np.linspace(vc, 75, max(td, 2)),
                        np.arange(75.0, 8.0, -2.0), [8.0]])
    s = np.concatenate([[0.0], np.cumsum((v[:-1] + v[1:]) / 2)])
    s *= length / s[-1]
    return s, v


@dataclass
class Part:
    """A piece of a route: its path, speed limits (local s), events (local s), environment."""

    path: Path
    limits: list = field(default_factory=list)
    events: list = field(default_factory=list)
    env: int = SUBURB

    @staticmethod
    def of(path: Path, v: float, events=(), env: int = SUBURB) -> Part:
        return Part(path, [(0.0, v)], list(events), env)


def compose(parts: Sequence[Part], turn_cap: Callable[[float], float] | None = None):
    """Join parts into one path with limits, events and an environment function of s."""
    parts = [p for p in parts if p.path.length > 0.5]
    if not parts:
        return Path([[0, 0], [0, 0]]), [(0.0, 1.0)], [], (lambda s: np.full(len(s), SUBURB))
    pts, limits, events, env_s, env_v = [], [], [], [], []
    off = 0.0
    prev = None
    for p in parts:
        if prev is not None:
            off += _dist(prev, p.path.start)
        pts.append(p.path.pts)
        limits += [(off + s, v) for s, v in p.limits]
        events += [(off + s, c, d) for s, c, d in p.events]
        env_s.append(off)
        env_v.append(p.env)
        off += p.path.length
        prev = p.path.end
    path = Path(np.vstack(pts))
    if turn_cap is not None:
        events += [(s, turn_cap(deg), 0.0) for s, deg in path.turns(40.0)]
    es, ev = np.array(env_s), np.array(env_v, np.int8)

    def env(s):
        return ev[np.clip(np.searchsorted(es, s, side="right") - 1, 0, len(ev) - 1)]

    return path, limits, events, env


def car_turn(deg: float) -> float:
    return 3.0 + 5.0 * (1.0 - deg / 180.0)


def spaced(rng, length: float, gap: tuple[float, float], start: float | None = None):
    """Positions along [0, length] spaced by uniform gaps."""
    out = []
    s = rng.uniform(*gap) if start is None else start
    while s < length - 20:
        out.append(s)
        s += rng.uniform(*gap)
    return out


def lights(rng, length: float, gap, p_red: float, wait, start=None):
    """Red lights (full stops) at intersections spaced by `gap` metres."""
    return [(s, 0.0, rng.uniform(*wait)) for s in spaced(rng, length, gap, start)
            if rng.random() < p_red]


# --------------------------------------------------------------------------- the person


@dataclass
class Place:
    key: str
    xy: np.ndarray
    indoor: bool = True
    bias: np.ndarray = field(default_factory=lambda: np.zeros(2))  # Wi-Fi position bias
    env: int = URBAN
    # Roads (suburb world): the grid point the place is reached from, the path from it to
    # the parking spot (a driveway, a subdivision street, a parking lot), the spot itself.
    road: np.ndarray | None = None
    access: Path | None = None
    access_v: float = 4.5
    park: np.ndarray | None = None


def make_place(rng, key, xy, indoor=True, env=URBAN) -> Place:
    bias = _polar(rng.uniform(5, 35), rng.uniform(0, 2 * math.pi)) if indoor else np.zeros(2)
    return Place(key, np.asarray(xy, float), indoor, bias, env)


class Sim:
    """The person's timeline: dwells at places and per-second movement, contiguous."""

    def __init__(self, rng, base: int, tz: float):
        self.rng = rng
        self.base = base  # UTC epoch of the first day's 00:00 read as UTC
        self.home_tz = tz
        self.tz = tz
        self.t = int(base - tz * 3600)
        self.xy = np.zeros(2)
        self.place: Place | None = None
        self.since = self.t
        self.seg_a: list[int] = []
        self.seg_kind: list[int] = []  # 0 dwell, 1 movement
        self.seg_ref: list[int] = []
        self.dw: list[tuple] = []  # (x, y, stay_idx, place)
        self.mv: dict[str, list] = {k: [] for k in "XYVMWE"}
        self.n_mv = 0
        self.stays: list[dict] = []
        self.legs: list[dict] = []
        self.dense: list[tuple[int, int]] = []
        self.blackouts: list[tuple[int, int]] = []
        self.flights: list[tuple[int, int, bool]] = []

    # -- clock
    def local(self, d: int, h: float) -> int:
        return int(self.base + d * DAY + h * 3600 - self.tz * 3600)

    def hour(self, t: int | None = None) -> float:
        t = self.t if t is None else t
        return ((t - self.base + self.tz * 3600) % DAY) / 3600.0

    # -- places
    def arrive(self, place: Place) -> None:
        self._flush()
        self.place = place
        self.since = self.t
        self.xy = place.xy.copy()

    def idle_until(self, t: float) -> None:
        assert self.place is not None
        self.t = max(self.t, int(t))

    def idle(self, seconds: float) -> None:
        self.idle_until(self.t + seconds)

    def stay(self, place: Place, until: float, min_s: float = 0.0) -> None:
        if self.place is not place:
            self.arrive(place)
        self.idle_until(max(until, self.t + min_s))

    def _flush(self) -> None:
        p = self.place
        if p is None:
            return
        if self.t > self.since:
            idx = -1
            if self.t - self.since >= STAY_MIN_S:
                idx = len(self.stays)
                self.stays.append(dict(start=float(self.since), end=float(self.t),
                                       place=p.key, x=float(p.xy[0]), y=float(p.xy[1])))
            self.seg_a.append(self.since)
            self.seg_kind.append(0)
            self.seg_ref.append(len(self.dw))
            self.dw.append((float(p.xy[0]), float(p.xy[1]), idx, p))
        self.place = None

    # -- movement
    def _samples(self, x, y, v, mode, env, waiting=False) -> None:
        n = len(x)
        if n == 0:
            return
        self.seg_a.append(self.t)
        self.seg_kind.append(1)
        self.seg_ref.append(self.n_mv)
        self.mv["X"].append(np.asarray(x, float))
        self.mv["Y"].append(np.asarray(y, float))
        self.mv["V"].append(np.asarray(v, np.float32))
        self.mv["M"].append(np.full(n, mode, np.int8))
        self.mv["W"].append(np.full(n, bool(waiting)))
        self.mv["E"].append(np.broadcast_to(np.asarray(env, np.int8), (n,)).copy())
        self.n_mv += n
        self.t += n

    def move(self, path: Path, mode: int, kind: str, limits=None, acc=1.0, dec=1.0,
             events=(), fluct=0.05, tau=30.0, env=SUBURB, dense=False, profile=None) -> None:
        """Move along path (which must start where the person is)."""
        self._flush()
        if profile is None:
            s, v = kinematics(self.rng, path.length, limits, acc, dec, events, fluct, tau)
        else:
            s, v = profile
        x, y = path.at(s)
        e = env(s[:-1]) if callable(env) else env
        t0 = self.t
        self._samples(x[:-1], y[:-1], v[:-1], mode, e)
        self.xy = path.end
        if self.t > t0:
            self.legs.append(dict(start=float(t0), end=float(self.t), kind=kind, mode=int(mode),
                                  distance_m=round(path.length, 1)))
            if dense:
                self.dense.append((t0, self.t))

    def wait(self, seconds: float, env: int, mode: int = STATIONARY, waiting: bool = True):
        """Standing (or sitting in a vehicle) without moving, inside a trip."""
        self._flush()
        n = int(seconds)
        self._samples(np.full(n, self.xy[0]), np.full(n, self.xy[1]), np.zeros(n), mode, env,
                      waiting)

    def finish(self, t_end: int) -> None:
        if self.place is not None:
            self.idle_until(t_end)
        self._flush()

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.mv.items()}
        out["seg_a"] = np.array(self.seg_a, np.int64)
        out["seg_kind"] = np.array(self.seg_kind, np.int8)
        out["seg_ref"] = np.array(self.seg_ref, np.int64)
        return out


# --------------------------------------------------------------------------- the phone


@dataclass
class Phone:
    t_still: float  # seconds without movement before the phone counts as still
    still_med: float  # median seconds between fixes when still (daytime)
    quality: float  # GPS error multiplier of this handset
    day_profile: dict  # local day -> (kind, base interval s)


def _phone(rng, days: int) -> Phone:
    prof = {}
    for d in range(-1, days + 3):
        k = rng.choice(4, p=[0.15, 0.5, 0.2, 0.15])
        prof[d] = [("fine", rng.uniform(3, 7)), ("normal", rng.uniform(8, 20)),
                   ("coarse", rng.uniform(25, 60)), ("burst", 0.0)][k]
    return Phone(t_still=rng.uniform(100, 220), still_med=rng.uniform(8, 16) * 60,
                 quality=rng.uniform(0.8, 1.3), day_profile=prof)


def _log(rng, sim: Sim, t_end: int, phone: Phone) -> tuple[np.ndarray, np.ndarray]:
    """Fix times and sources: the logger's state machine over the true timeline."""
    A = sim.arrays()
    seg_a, seg_kind, seg_ref = A["seg_a"], A["seg_kind"], A["seg_ref"]
    seg_list = seg_a.tolist()
    V, E, M = A["V"], A["E"], A["M"]
    mv_t = np.empty(len(V), np.int64)
    for a, k, ref, b in zip(seg_a, seg_kind, seg_ref, [*seg_list[1:], t_end], strict=True):
        if k == 1:
            n = int(b - a)
            mv_t[ref:ref + n] = a + np.arange(n)
    moving = mv_t[V > 0.5]
    # end time of the no-fix run each NOFIX sample is in
    nof = E == NOFIX
    run_end = np.zeros(len(E), np.int64)
    if nof.any():
        idx = np.flatnonzero(nof)
        breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(mv_t[idx]) != 1)) + 1
        for grp in np.split(idx, breaks):
            run_end[grp] = mv_t[grp[-1]] + 1

    def lookup(t):
        i = bisect.bisect_right(seg_list, t) - 1
        if seg_kind[i] == 1:
            return 1, int(seg_ref[i] + (t - seg_a[i]))
        return 0, int(seg_ref[i])

    def last_moving(t):
        i = np.searchsorted(moving, t, side="right") - 1
        return int(moving[i]) if i >= 0 else -10 ** 12

    def next_moving(t):
        i = np.searchsorted(moving, t, side="right")
        return int(moving[i]) if i < len(moving) else 10 ** 15

    def local_day(t):
        return int((t - sim.base + sim.home_tz * 3600) // DAY)

    def still_iv(t):
        if rng.random() < 0.04:
            return rng.uniform(3600, 4 * 3600)  # doze: nothing for hours
        h = sim.hour(t)
        if h >= 23 or h < 6.5:
            return float(np.clip(rng.lognormal(math.log(45 * 60), 0.6), 600, 5 * 3600))
        return float(np.clip(rng.lognormal(math.log(phone.still_med), 0.6), 180, 3600))

    ft: list[int] = []
    fs: list[int] = []

    def emit(t, src):
        ft.append(int(t))
        fs.append(src)

    def still_fix(t):
        kind, ref = lookup(t)
        if kind == 0:
            place = sim.dw[ref][3]
            u = rng.random()
            if place.indoor:
                src = CELL if u < 0.05 else (GPS if u < 0.15 else WIFI)
            else:
                src = CELL if u < 0.04 else (WIFI if u < 0.09 else GPS)
        else:
            if E[ref] == NOFIX:
                return
            src = CELL if rng.random() < 0.04 else GPS
        emit(t, src)
        if src != CELL and rng.random() < 0.2:  # the phone picked up: a few more fixes
            tt = t
            for _ in range(int(rng.integers(1, 4))):
                tt += int(rng.integers(5, 30))
                emit(tt, src)

    cur = int(sim.seg_a[0] + rng.integers(60, 900))
    active = False
    first = False
    next_still = cur
    burst_left = 0
    while cur < t_end:
        if active:
            lm = last_moving(cur)
            if cur - lm > phone.t_still:
                active = False
                s0 = lm + phone.t_still
                next_still = int(s0 + still_iv(s0))
                continue
            kind, ref = lookup(cur)
            env = E[ref] if kind == 1 else (INDOOR if sim.dw[ref][3].indoor else SUBURB)
            if env == NOFIX:
                cur = int(run_end[ref] + rng.integers(5, 41))  # re-acquisition after it
                first = True
                continue
            if first:
                emit(cur, NET if rng.random() < 0.6 else GPS)
                first = False
            elif rng.random() < 0.002:
                emit(cur, CELL)
            else:
                emit(cur, GPS)
            if env == SPARSE:
                cur += int(rng.integers(60, 300))
                continue
            pk, base = phone.day_profile.get(local_day(cur), ("normal", 12.0))
            if pk == "burst":
                if burst_left > 0:
                    burst_left -= 1
                    step = int(rng.integers(1, 3))
                else:
                    burst_left = int(rng.integers(2, 8))
                    step = int(rng.integers(90, 240))
            else:
                step = max(1, round(base * rng.lognormal(0, 0.3)))
            if kind == 1 and env in (RAIL, URBAN) and M[ref] in (TRAIN, BUS, CAR) \
                    and rng.random() < (0.04 if env == RAIL else 0.015):
                step += int(rng.integers(30, 150))  # lost in a carriage / between towers
            cur += step
        else:
            nm = next_moving(cur)
            if nm < next_still:
                active = True
                first = True
                cur = int(nm + rng.integers(15, 76))  # activity recognition is slow
                if ft and rng.random() < 0.25:
                    emit(cur, STALE)  # a cached fix handed out again with a new time
                    cur += int(rng.integers(2, 12))
                continue
            if next_still >= t_end:
                break
            still_fix(next_still)
            cur = next_still
            next_still = int(cur + still_iv(cur))

    t = np.array(ft, np.int64)
    s = np.array(fs, np.int8)
    # Wi-Fi fixes at underground stations while the train stands there.
    extra_t, extra_s = [], []
    st = nof & (V < 0.1) & (M == TRAIN)
    if st.any():
        idx = np.flatnonzero(st)
        for grp in np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1):
            if len(grp) >= 10 and rng.random() < 0.3:
                extra_t.append(int(mv_t[grp[int(rng.integers(len(grp)))]]))
                extra_s.append(WIFI_ST)
    # The sports tracker: one fix a second on the legs recorded with it.
    keep = np.ones(len(t), bool)
    for a, b in sim.dense:
        keep &= ~((t >= a) & (t < b))
        extra_t += list(range(a, b))
        extra_s += [DENSE] * (b - a)
    t = np.concatenate([t[keep], np.array(extra_t, np.int64)])
    s = np.concatenate([s[keep], np.array(extra_s, np.int8)])
    for a, b in sim.blackouts:
        ok = (t < a) | (t >= b)
        t, s = t[ok], s[ok]
    ok = (t >= seg_a[0]) & (t < t_end)
    t, s = t[ok], s[ok]
    order = np.argsort(t, kind="stable")
    t, s = t[order], s[order]
    t, first_i = np.unique(t, return_index=True)
    s = s[first_i]
    # rare GPS glitches: a fix hundreds of metres off with an ordinary accuracy
    g = (s == GPS) & (rng.random(len(s)) < 0.0015)
    s[g] = GLITCH
    return t, s


def _truth_at(sim: Sim, A: dict, t: np.ndarray) -> dict[str, np.ndarray]:
    i = np.searchsorted(A["seg_a"], t, side="right") - 1
    kind = A["seg_kind"][i]
    ref = A["seg_ref"][i]
    n = len(t)
    out = dict(x=np.zeros(n), y=np.zeros(n), mode=np.zeros(n, np.int8),
               waiting=np.zeros(n, bool), stay=np.full(n, -1, np.int64),
               env=np.zeros(n, np.int8), dwell=np.full(n, -1, np.int64))
    mv = kind == 1
    j = ref[mv] + (t[mv] - A["seg_a"][i[mv]])
    out["x"][mv], out["y"][mv] = A["X"][j], A["Y"][j]
    out["mode"][mv], out["waiting"][mv], out["env"][mv] = A["M"][j], A["W"][j], A["E"][j]
    for k in np.flatnonzero(~mv):
        x, y, idx, place = sim.dw[ref[k]]
        out["x"][k], out["y"][k], out["stay"][k] = x, y, idx
        out["env"][k] = INDOOR if place.indoor else SUBURB
        out["dwell"][k] = ref[k]
    return out


def _errors(rng, sim: Sim, tr: dict, t: np.ndarray, src: np.ndarray, phone: Phone):
    """Measured positions, reported accuracy and the wrong-fix flag."""
    n = len(t)
    ox = np.zeros(n)
    oy = np.zeros(n)
    acc = np.zeros(n)
    jump = np.zeros(n, bool)
    g = random.Random(int(rng.integers(2 ** 62)))
    ex = ey = 0.0
    last_gps = -10 ** 12
    mp_until, mpx, mpy = -1, 0.0, 0.0
    prev_out = None
    for k in range(n):
        sk, tk, env = int(src[k]), int(t[k]), int(tr["env"][k])
        x, y = tr["x"][k], tr["y"][k]
        if sk in (GPS, DENSE, GLITCH):
            sig = 2.6 if sk == DENSE else GPS_SIGMA[env] * phone.quality
            tau = 15.0 if sk == DENSE else (25.0 if env in (URBAN, RAIL) else 60.0)
            s_ax = sig / math.sqrt(2)
            dt = tk - last_gps
            if dt > 600:
                ex, ey = g.gauss(0, s_ax), g.gauss(0, s_ax)
            else:
                a = math.exp(-dt / tau)
                b = math.sqrt(1 - a * a) * s_ax
                ex, ey = a * ex + b * g.gauss(0, 1), a * ey + b * g.gauss(0, 1)
            last_gps = tk
            dx, dy = ex, ey
            a_rep = max(3.0, 1.5 * s_ax * g.uniform(0.8, 1.6))
            if sk == DENSE:
                a_rep = g.uniform(3.0, 6.0)
            elif env in (URBAN, RAIL):  # multipath: tens of metres for a while
                if tk > mp_until and g.random() < 0.01:
                    mp_until = tk + g.randint(10, 40)
                    m, th = g.uniform(20, 60), g.uniform(0, 2 * math.pi)
                    mpx, mpy = m * math.cos(th), m * math.sin(th)
                if tk <= mp_until:
                    dx, dy = dx + mpx, dy + mpy
                    a_rep *= 1.3
            if sk == GLITCH:
                m, th = g.uniform(100, 500), g.uniform(0, 2 * math.pi)
                dx, dy = m * math.cos(th), m * math.sin(th)
                a_rep = g.uniform(8, 25)
                jump[k] = True
        elif sk == WIFI:
            place = sim.dw[tr["dwell"][k]][3] if tr["dwell"][k] >= 0 else None
            bx, by = (place.bias if place is not None else (0.0, 0.0))
            dx, dy = bx + g.gauss(0, 6), by + g.gauss(0, 6)
            a_rep = g.uniform(15, 50)
        elif sk == WIFI_ST:
            dx, dy = g.gauss(0, 20), g.gauss(0, 20)
            a_rep = g.uniform(25, 65)
        elif sk == NET:
            m, th = g.uniform(15, 80), g.uniform(0, 2 * math.pi)
            dx, dy = m * math.cos(th), m * math.sin(th)
            a_rep = max(20.0, m * g.uniform(1.0, 2.0))
        elif sk == CELL:
            m, th = g.uniform(300, 1500), g.uniform(0, 2 * math.pi)
            dx, dy = m * math.cos(th), m * math.sin(th)
            a_rep = m * g.uniform(1.0, 1.8)
            jump[k] = True
        else:  # STALE: the previous fix again, with a new time
            if prev_out is None:
                dx, dy, a_rep = g.gauss(0, 10), g.gauss(0, 10), 20.0
            else:
                dx, dy, a_rep = prev_out[0] - x, prev_out[1] - y, prev_out[2]
            jump[k] = math.hypot(dx, dy) > 50
        ox[k], oy[k], acc[k] = x + dx, y + dy, round(a_rep, 1)
        prev_out = (ox[k], oy[k], acc[k])
    return ox, oy, acc, jump


def to_latlon(lat0: float, lon0: float, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Metres east/north of (lat0, lon0) to degrees (north-south exact, east-west exact at
    each latitude; good for the few thousand km a person travels here)."""
    lat = lat0 + np.degrees(np.asarray(y, float) / EARTH_R)
    lon = lon0 + np.degrees(np.asarray(x, float) / (EARTH_R * np.cos(np.radians(lat))))
    return lat, lon


def _blackouts(rng, sim: Sim, days: int) -> None:
    """Phone off: a dead battery until the next morning, now and then a whole day."""
    n = int(rng.poisson(days / 20.0))
    if days >= 14:
        n = max(n, 1)
    for _ in range(n):
        d = int(rng.integers(1, max(2, days - 1)))
        a = sim.base + d * DAY + rng.uniform(17, 23.5) * 3600 - sim.home_tz * 3600
        b = sim.base + (d + 1) * DAY + rng.uniform(6.5, 8.5) * 3600 - sim.home_tz * 3600
        sim.blackouts.append((int(a), int(b)))
    if days >= 20 and rng.random() < 0.5:
        d = int(rng.integers(1, days - 1))
        a = sim.base + d * DAY - sim.home_tz * 3600 + rng.uniform(0, 3) * 3600
        sim.blackouts.append((int(a), int(a + rng.uniform(20, 30) * 3600)))
    sim.blackouts.sort()


# --------------------------------------------------------------------------- rail


class Line:
    """A rail line: its track, stations (global ids, position s along the track), the
    speed per hop, and where platforms are underground (index k into ids)."""

    def __init__(self, name, kind, path, ids, st_s, vmax, acc, dec, dwell, headway):
        self.name, self.kind, self.path = name, kind, path
        self.ids, self.st_s = list(ids), list(st_s)
        self.acc, self.dec, self.dwell, self.headway = acc, dec, dwell, headway
        self.hop_v = [vmax] * (len(self.ids) - 1)
        self.under: set[int] = set()
        self.major: set[int] = set()  # stations where rapid trains stop


WALK_WEIGHT = 2.0  # a minute walking to or from a station feels like two on a train


class Rail:
    def __init__(self, rng):
        self.rng = rng
        self.st: list[np.ndarray] = []
        self.entr: list[np.ndarray] = []
        self.lines: list[Line] = []
        self._cache: dict = {}
        self._nodes: dict[int, list[tuple[int, int]]] | None = None

    def station(self, xy) -> int:
        self.st.append(np.asarray(xy, float))
        self.entr.append(_near(self.rng, xy, 50, 150))
        return len(self.st) - 1

    def add_line(self, name, kind, waypoints, spacing=None, wander=0.025, **kw) -> Line:
        """waypoints: station ids (int) or shape points (xy); both ends become stations;
        with spacing (lo, hi) more stations are put between the fixed ones."""
        rng = self.rng
        xys = [self.st[w] if isinstance(w, int) else np.asarray(w, float) for w in waypoints]
        pieces, joint = [], [0.0]
        for a, b in zip(xys, xys[1:], strict=False):
            p = curve(rng, a, b, wander, step=40.0)
            pieces.append(p)
            joint.append(joint[-1] + p.length)
        path = join(pieces)
        fixed = []
        for i, (w, s) in enumerate(zip(waypoints, joint, strict=True)):
            if isinstance(w, int):
                fixed.append((s, w))
            elif i in (0, len(waypoints) - 1):
                fixed.append((s, self.station(path.point(s))))
        ids, ss = [], []
        for (s0, a), (s1, _b) in zip(fixed, fixed[1:], strict=False):
            ids.append(a)
            ss.append(s0)
            if spacing:
                gap = s1 - s0
                n = max(0, int(round(gap / np.mean(spacing))) - 1)
                for j in range(1, n + 1):
                    s = s0 + gap * (j + rng.uniform(-0.15, 0.15)) / (n + 1)
                    ids.append(self.station(path.point(s)))
                    ss.append(s)
        ids.append(fixed[-1][1])
        ss.append(fixed[-1][0])
        line = Line(name, kind, path, ids, ss, **kw)
        self.lines.append(line)
        self._nodes = None
        return line

    def route(self, a, b, src=None, dst=None, vw=1.3, walk_r=2200.0):
        """Fastest way by rail (Dijkstra over (line, station) with walking at both ends
        and transfers): dict(board, alight, rides=[(line index, [(k0, k1), ...])], cost)."""
        key = (round(a[0]), round(a[1]), round(b[0]), round(b[1]), src, dst)
        if key in self._cache:
            return self._cache[key]
        if self._nodes is None:
            self._nodes = {}
            for li, ln in enumerate(self.lines):
                for k, sid in enumerate(ln.ids):
                    self._nodes.setdefault(sid, []).append((li, k))
        nodes = self._nodes
        heap, cnt, best, prev = [], 0, {}, {}
        for sid, ns in nodes.items():
            if src is not None and sid != src:
                continue
            w = 0.0 if src is not None else _dist(a, self.entr[sid]) + 80
            if w > walk_r:
                continue
            for li, k in ns:
                c = w * WALK_WEIGHT / vw + self.lines[li].headway / 2
                heapq.heappush(heap, (c, cnt, (li, k), None))
                cnt += 1
        goal = {}
        for sid in nodes:
            if dst is not None:
                if sid == dst:
                    goal[sid] = 0.0
                continue
            w = _dist(self.entr[sid], b) + 80
            if w <= walk_r:
                goal[sid] = w * WALK_WEIGHT / vw
        found, found_c = None, math.inf
        while heap:
            c, _, node, pv = heapq.heappop(heap)
            if node in best:
                continue
            best[node] = c
            prev[node] = pv
            if c >= found_c:
                break
            li, k = node
            ln = self.lines[li]
            sid = ln.ids[k]
            if sid in goal and c + goal[sid] < found_c:
                found, found_c = node, c + goal[sid]
            for k2 in (k - 1, k + 1):
                if 0 <= k2 < len(ln.ids) and (li, k2) not in best:
                    hop = abs(ln.st_s[k2] - ln.st_s[k])
                    cost = hop / (0.6 * ln.hop_v[min(k, k2)]) + np.mean(ln.dwell)
                    heapq.heappush(heap, (c + cost, cnt, (li, k2), node))
                    cnt += 1
            for li2, k2 in nodes[sid]:
                if (li2, k2) != node and (li2, k2) not in best:
                    cost = 0.0 if li2 == li else 240 + self.lines[li2].headway / 2
                    heapq.heappush(heap, (c + cost, cnt, (li2, k2), node))
                    cnt += 1
        out = None
        if found is not None:
            seq = [found]
            while prev[seq[-1]] is not None:
                seq.append(prev[seq[-1]])
            seq.reverse()
            rides: list = []
            for n0, n1 in zip(seq, seq[1:], strict=False):
                if n0[0] == n1[0] and abs(n0[1] - n1[1]) == 1:
                    if not rides or rides[-1][0] != n0[0] or rides[-1][2]:
                        rides.append([n0[0], [], False])
                    rides[-1][1].append((n0[1], n1[1]))
                elif n0[0] != n1[0] and rides:
                    rides[-1][2] = True  # a transfer closes the ride
            rides = [(li, hops) for li, hops, _ in rides if hops]
            if rides:
                l0, h0 = rides[0]
                l1, h1 = rides[-1]
                out = dict(board=self.lines[l0].ids[h0[0][0]], alight=self.lines[l1].ids[h1[-1][1]],
                           rides=rides, cost=found_c)
        self._cache[key] = out
        return out


# --------------------------------------------------------------------------- a life


def bezier(p0, c, p2, n: int = 24) -> Path:
    u = np.linspace(0, 1, n)[:, None]
    return Path((1 - u) ** 2 * p0 + 2 * (1 - u) * u * c + u ** 2 * p2)


def jam(rng, length: float, v_free: float, p: float):
    """Limits and events of a road with, with probability p, a congestion zone: a crawl
    of 3-10 m/s with slowdowns to walking pace and full stops (stop-and-go)."""
    if length < 2500 or rng.random() >= p:
        return [(0.0, v_free)], []
    zl = min(length * 0.8, rng.uniform(1500, 7000))
    z0 = rng.uniform(0, length - zl)
    limits = [(0.0, v_free), (z0, rng.uniform(3, 10)), (z0 + zl, v_free)]
    ev = [(z0 + x, rng.uniform(1, 3), 0.0) for x in spaced(rng, zl, (150, 400))]
    ev += [(z0 + x, 0.0, rng.uniform(2, 20)) for x in spaced(rng, zl, (300, 900))]
    return limits, ev


class Away:
    """A city the person flies to: hotel, an office, restaurants, sights, an airport."""

    def __init__(self, rng, center, tz: float, name: str):
        self.c, self.tz, self.name = np.asarray(center, float), tz, name
        self.hotel = make_place(rng, f"{name}-hotel", _near(rng, center, 200, 1500))
        self.office = make_place(rng, f"{name}-office", _near(rng, center, 300, 2500))
        self.food = [make_place(rng, f"{name}-food{i}", _near(rng, center, 100, 3000))
                     for i in range(3)]
        self.sights = [make_place(rng, f"{name}-sight{i}", _near(rng, center, 500, 6000),
                                  indoor=rng.random() < 0.5, env=SUBURB) for i in range(3)]
        th = rng.uniform(0, 2 * math.pi)
        self.airport = make_place(rng, f"{name}-airport", center + _polar(
            rng.uniform(15000, 30000), th), env=OPEN)
        self.runway = self.airport.xy + _polar(rng.uniform(1500, 3000), rng.uniform(0, 6.28))


class Life:
    """What both worlds share: the clock, walking, taxis, flying, a stay in another city."""

    env_walk = URBAN

    def __init__(self, rng, sim: Sim, days: int, wd0: int):
        self.rng, self.sim, self.days, self.wd0 = rng, sim, days, wd0
        self.here: Place | None = None
        self.params: dict = {}
        self.trips: list[dict] = []
        self.special: dict[int, Callable[[int], int]] = {}
        self.vw = rng.uniform(1.22, 1.45)

    # -- days: each world says what a workday, a weekend day and its special days are
    def run(self) -> None:
        d = 0
        while d < self.days:
            if d in self.special:
                d = self.special[d](d)  # a trip away: returns the day after it
                continue
            if self.weekday(d) < 5:
                self.workday(d)
            else:
                self.weekend(d)
            d += 1

    def workday(self, d: int) -> None:
        raise NotImplementedError

    def weekend(self, d: int) -> None:
        raise NotImplementedError

    # -- clock and places
    def weekday(self, d: int) -> int:
        return (self.wd0 + d) % 7

    def rush(self) -> bool:
        h = self.sim.hour()
        wd = self.weekday(int((self.sim.t - self.sim.base + self.sim.tz * 3600) // DAY))
        return wd < 5 and (7.0 <= h < 9.5 or 17.0 <= h < 19.5)

    def arrive(self, p: Place) -> None:
        self.sim.arrive(p)
        self.here = p

    def stay(self, p: Place, until: float, min_s: float = 0.0) -> None:
        if self.sim.place is not p:
            self.arrive(p)
        self.sim.idle_until(max(until, self.sim.t + min_s))

    def dwell(self, p: Place, seconds: float) -> None:
        self.stay(p, self.sim.t + seconds)

    # -- moving
    def walk(self, xy, env=None, kind="walk", red=0.35, bend=6.0, v=None) -> None:
        s, r = self.sim, self.rng
        path = streets(r, s.xy, xy, bend=bend)
        ev = lights(r, path.length, (80, 200), red, (5, 50)) if red > 0 else []
        s.move(path, WALK, kind, [(0.0, v or self.vw)], 0.5, 0.9, ev, fluct=0.06, tau=20,
               env=self.env_walk if env is None else env)

    def walk_path(self, path: Path, env, kind="walk", v=None, fluct=0.06) -> None:
        self.sim.move(path, WALK, kind, [(0.0, v or self.vw)], 0.5, 0.9, (), fluct, 20, env)

    def taxi(self, xy, kind="taxi", env=URBAN, wait=(30, 300)) -> None:
        s, r = self.sim, self.rng
        if wait:
            s.wait(r.uniform(*wait), env)
        a = s.xy.copy()
        xy = np.asarray(xy, float)
        h = s.hour()
        night = h >= 22 or h < 5.5
        tf = r.uniform(1.0, 1.15) if night else r.uniform(0.65, 0.95)
        red = 0.35 if night else 0.45
        d = _dist(a, xy)

        def city(p, q):
            path = streets(r, p, q, bend=6.0)
            return Part.of(path, 14.0 * tf, lights(r, path.length, (120, 300), red, (5, 60)),
                           env)

        if d > 8000:
            u = _unit(xy - a)
            on = a + u * r.uniform(800, 2000) + _perp(u) * r.normal(0, 400)
            off = xy - u * r.uniform(800, 2000) + _perp(u) * r.normal(0, 400)
            x = curve(r, on, off, 0.04, 40)
            lim, ev = jam(r, x.length, 22.0 * min(tf, 1.0) / 0.95, 0.1 if night else 0.5)
            parts = [city(a, on), Part(x, lim, ev, env), city(off, xy)]
        else:
            parts = [city(a, xy)]
        path, limits, events, envf = compose(parts, car_turn)
        s.move(path, CAR, kind, limits, r.uniform(1.4, 1.9), r.uniform(1.6, 2.1), events,
               0.07, 25, envf)

    def fly(self, dep: Place, dep_runway, arr: Place, arr_runway, arr_tz: float) -> None:
        """Gate to gate: boarding (waiting), taxi, flight, taxi, deplaning, the terminal.
        Half the flights are in airplane mode with no fix at all; the others log a fix now
        and then through the window."""
        s, r = self.sim, self.rng
        s.wait(r.uniform(600, 1500), INDOOR)  # boarding and sitting at the gate
        off = r.random() < 0.55
        e_taxi, e_air = (NOFIX, NOFIX) if off else (OPEN, SPARSE)
        t0 = s.t
        p = curve(r, s.xy, dep_runway, 0.1, 30)
        s.move(p, PLANE, "taxi-out", [(0.0, 9.0)], 0.5, 1.0,
               [(p.length * 0.85, 0.0, r.uniform(0, 240))], 0.1, 30, e_taxi)
        air = curve(r, dep_runway, arr_runway, 0.02, max(200.0, _dist(dep_runway, arr_runway)
                                                         / 3000))
        s.move(air, PLANE, "flight", env=e_air, profile=flight_profile(r, air.length))
        s.tz = arr_tz
        p = curve(r, s.xy, arr.xy, 0.1, 30)
        s.move(p, PLANE, "taxi-in", [(0.0, 8.0)], 0.5, 1.0, (), 0.1, 30, e_taxi)
        s.flights.append((t0, s.t, off))
        s.wait(r.uniform(300, 900), INDOOR)  # deplaning
        self.walk_path(curve(r, s.xy, _near(r, s.xy, 300, 900), 0.2, 20), INDOOR)
        if r.random() < 0.5:
            s.wait(r.uniform(480, 1200), INDOOR)  # baggage claim

    def away_go(self, away: Away, p: Place) -> None:
        if _dist(self.sim.xy, p.xy) < 1500:
            self.walk(p.xy, URBAN)
        else:
            self.taxi(p.xy, kind="taxi")
        self.arrive(p)

    def away_days(self, away: Away, d0: int, nights: int, business: bool) -> None:
        """From the arrival at the hotel (day d0) to leaving for the airport on the last."""
        s, r = self.sim, self.rng
        self.arrive(away.hotel)
        if s.hour() < 20.5:
            s.idle(r.uniform(1800, 3600))
            self.away_go(away, away.food[int(r.integers(3))])
            s.idle(r.uniform(3000, 6000))
            self.away_go(away, away.hotel)
        for k in range(1, nights + 1):
            d = d0 + k
            s.idle_until(s.local(d, r.uniform(7.5, 9.5)))
            if k == nights:
                if r.random() < 0.5:
                    self.away_go(away, away.sights[int(r.integers(3))])
                    s.idle(r.uniform(1800, 4800))
                break
            if business:
                self.away_go(away, away.office)
                s.idle_until(s.local(d, r.uniform(11.8, 12.5)))
                f = away.food[int(r.integers(3))]
                self.away_go(away, f)
                s.idle(r.uniform(2400, 4000))
                self.away_go(away, away.office)
                s.idle_until(s.local(d, r.uniform(16.5, 18.5)))
            else:
                for sight in r.permutation(3)[: int(r.integers(2, 4))]:
                    self.away_go(away, away.sights[int(sight)])
                    s.idle(r.uniform(2400, 7200))
            self.away_go(away, away.food[int(r.integers(3))])
            s.idle(r.uniform(3600, 6600))
            self.away_go(away, away.hotel)
        # to the airport
        self.taxi(away.airport.xy, kind="taxi")
        self.arrive(away.airport)
        s.idle(r.uniform(3000, 6000))


def _ride_days(rng, life: Life, days: int, taken: set[int], weekday: int | None = None):
    """One weekend day with a bike ride recorded by a sports tracker (if days allow)."""
    ok = [d for d in range(1, days) if life.weekday(d) >= 5 and d not in taken
          and (weekday is None or life.weekday(d) == weekday)]
    return {int(rng.choice(ok))} if ok and days >= 7 else set()


# --------------------------------------------------------------------------- the transit city


class Transit(Life):
    """A large Asian transit city: a loop line, subways crossing under the centre, a
    commuter line out to the person's suburb, a limited express for day trips, an airport
    line. Lots of walking, convenience stores, buses in traffic, late taxis."""

    CITIES = [(35.681, 139.767), (37.555, 126.971), (34.702, 135.496), (35.170, 136.882)]
    env_walk = URBAN

    @classmethod
    def center(cls, rng):
        lat, lon = cls.CITIES[int(rng.integers(len(cls.CITIES)))]
        return lat + rng.normal(0, 0.02), lon + rng.normal(0, 0.02), 9.0

    def __init__(self, rng, sim, days, wd0):
        super().__init__(rng, sim, days, wd0)
        self.walk_max = rng.uniform(1000, 1500)
        self.bike_at_station = False
        self._build()
        self.arrive(self.home)
        taken: set[int] = set()
        if days >= 12:
            d0 = int(rng.integers(3, days - 7))
            self.special[d0] = lambda d, n=int(rng.integers(3, 6)): self.fly_away(d, n, True)
            taken |= set(range(d0 - 1, d0 + 8))
        if days >= 20 and rng.random() < 0.6:
            for _ in range(50):
                d0 = int(rng.integers(2, days - 4))
                if not taken & set(range(d0 - 1, d0 + 4)) and self.weekday(d0) < 4:
                    self.special[d0] = lambda d, n=int(rng.integers(1, 3)): self.fly_away(
                        d, n, False)
                    taken |= set(range(d0 - 1, d0 + 4))
                    break
        self.ride_days = _ride_days(rng, self, days, taken)
        self.params.update(vw=self.vw, home_station_km=round(self.c1.st_s[self.home_k] / 1000, 1))
        self.daytrip_week = -1

    # -- the world
    def _build(self) -> None:
        r = self.rng
        rail = self.rail = Rail(r)
        R = r.uniform(5000, 6500)
        ph = r.uniform(0, 2 * math.pi)
        ecc = r.uniform(0.04, 0.12)
        n = int(round(2 * math.pi * R / r.uniform(1100, 1450)))
        angs = ph + 2 * math.pi * np.arange(n) / n + r.normal(0, 0.12 * 2 * math.pi / n, n)

        def ring(th):
            return _polar(R * (1 + ecc * math.cos(2 * (th - ph))), th)

        loop_ids = [rail.station(ring(th)) for th in angs]
        self.loop = rail.add_line("loop", "loop-line", loop_ids + [loop_ids[0]], None, 0.01,
                                  vmax=25.0, acc=0.83, dec=0.97, dwell=(20, 40), headway=240)

        def loop_near(th):
            dd = np.abs((angs - th + math.pi) % (2 * math.pi) - math.pi)
            return loop_ids[int(np.argmin(dd))]

        X = rail.station(_polar(r.uniform(0, 1500), r.uniform(0, 2 * math.pi)))
        th1 = r.uniform(0, 2 * math.pi)
        th2 = th1 + r.uniform(0.9, 2.2)
        used = [th1, th1 + math.pi, th2, th2 + math.pi]
        self.subways = []
        for name, th in (("S1", th1), ("S2", th2)):
            la, lb = loop_near(th), loop_near(th + math.pi + r.normal(0, 0.25))
            outa = rail.st[la] * r.uniform(1.4, 1.8)
            outb = rail.st[lb] * r.uniform(1.4, 1.8)
            ln = rail.add_line(name, "subway", [outa, la, X, lb, outb], (800, 1400), 0.05,
                               vmax=22.0, acc=0.92, dec=1.0, dwell=(20, 35), headway=210)
            m = len(ln.ids)
            ln.under = set(range(m))
            if r.random() < 0.5:
                ln.under -= {0, 1}  # the outer end runs on a viaduct
            if r.random() < 0.5:
                ln.under -= {m - 1, m - 2}
            self.subways.append(ln)

        def free_angle(min_gap):
            for _ in range(200):
                th = r.uniform(0, 2 * math.pi)
                if all(abs((th - u + math.pi) % (2 * math.pi) - math.pi) > min_gap for u in used):
                    used.append(th)
                    return th
            used.append(th)
            return th

        # commuter line to the suburbs, the person's home station on it
        thc = free_angle(0.35)
        lc = loop_near(thc)
        xc = rail.st[lc]
        u = _unit(xc)
        mid = xc + u * 12000 + _perp(u) * r.normal(0, 1500)
        end = xc + u * 34000 + _perp(u) * r.normal(0, 3000)
        c1 = self.c1 = rail.add_line("C1", "commuter-rail", [lc, mid, end], (1400, 3000), 0.04,
                                     vmax=28.0, acc=0.75, dec=0.95, dwell=(25, 45), headway=300)
        c1.hop_v = [21.0 if c1.st_s[k] < 4000 else 28.0 for k in range(len(c1.ids) - 1)]
        c1.major = {0, len(c1.ids) - 1} | {k for k in range(len(c1.ids)) if r.random() < 0.35}
        ks = [k for k, s in enumerate(c1.st_s) if 14000 <= s <= 24000] or [len(c1.ids) // 2]
        self.home_k = int(r.choice(ks))
        self.home_sid = c1.ids[self.home_k]
        c1.major.add(self.home_k)
        # limited express to day-trip towns
        the = free_angle(0.8)
        le = loop_near(the)
        xe = rail.st[le]
        u = _unit(xe)
        wp = [le] + [rail.station(xe + u * dd + _perp(u) * r.normal(0, 0.08 * dd))
                     for dd in (15000, 38000, 65000, 95000, 130000)]
        self.express = rail.add_line("E", "limited-express", wp, None, 0.03, vmax=35.5,
                                     acc=0.55, dec=0.8, dwell=(45, 75), headway=1800)
        self.express.hop_v[0] = 24.0
        # airport line
        tha = free_angle(0.5)
        la2 = loop_near(tha)
        xa = rail.st[la2]
        u = _unit(xa)
        apt = xa + u * r.uniform(22000, 40000) + _perp(u) * r.normal(0, 3000)
        wp = [la2] + [rail.station(xa + (apt - xa) * f + _perp(u) * r.normal(0, 800))
                      for f in (0.3, 0.55, 0.8)] + [rail.station(apt)]
        self.airline = rail.add_line("A", "airport-rail", wp, None, 0.03, vmax=31.0, acc=0.7,
                                     dec=0.9, dwell=(30, 50), headway=900)
        self.airline.under = {len(self.airline.ids) - 1}
        asid = self.airline.ids[-1]
        rail.entr[asid] = rail.st[asid] + _polar(120, r.uniform(0, 6.3))
        self.airport = make_place(r, "airport", rail.entr[asid], env=OPEN)
        self.runway = self.airport.xy + _polar(r.uniform(1500, 3500), r.uniform(0, 6.3))

        # places
        he = rail.entr[self.home_sid]
        self.home = make_place(r, "home", _near(r, he, 700, 1600))
        hx = self.home.xy
        self.konbini_home = make_place(r, "konbini-home", hx + (he - hx) * r.uniform(0.3, 0.7)
                                       + r.normal(0, 30, 2))
        self.konbini_st = make_place(r, "konbini-station", _near(r, he, 60, 180))
        self.supermarket = make_place(r, "supermarket", _near(r, hx, 300, 900))
        self.gym = make_place(r, "gym", _near(r, he, 150, 400))
        self.park = make_place(r, "park", _near(r, hx, 1000, 2300), indoor=False, env=SUBURB)
        self.clinic = make_place(r, "clinic", _near(r, hx, 2500, 4500))
        inner = [(ln, k) for ln in self.subways for k, sid in enumerate(ln.ids)
                 if np.hypot(*rail.st[sid]) < 0.8 * R and sid != X and sid not in loop_ids]
        ln, k = inner[int(r.integers(len(inner)))] if inner else (self.subways[0], 2)
        self.work_sid = ln.ids[k]
        self.office = make_place(r, "office", _near(r, rail.entr[self.work_sid], 150, 500))
        self.lunch = [make_place(r, f"lunch{i}", _near(r, self.office.xy, 100, 450))
                      for i in range(3)]
        self.konbini_work = make_place(r, "konbini-work", _near(r, self.office.xy, 50, 200))
        pool = [sid for sid in loop_ids + self.subways[1].ids
                if sid not in (self.work_sid, X, lc)]
        picks = r.choice(len(pool), size=5, replace=False)
        self.districts = []
        for j, pi in enumerate(picks[:3]):
            e = rail.entr[pool[pi]]
            self.districts.append([make_place(r, f"district{j}-{w}", _near(r, e, 100, 400))
                                   for w in ("dinner", "izakaya", "bar")])
        e = rail.entr[pool[picks[3]]]
        self.dept = make_place(r, "department-store", _near(r, e, 100, 250))
        self.cafe = make_place(r, "cafe", _near(r, e, 100, 300))
        fr = [sid for sid in c1.ids + self.subways[0].ids if sid != self.home_sid]
        self.friend = make_place(r, "friend", _near(r, rail.entr[fr[int(r.integers(len(fr)))]],
                                                    300, 900))
        start = _near(r, hx, 1000, 2500)
        self.river = curve(r, start, start + _polar(25000, r.uniform(0, 6.3)), 0.06, 50, 4)
        self.towns = []
        for k in (2, 3, 4):
            e = rail.entr[self.express.ids[k]]
            self.towns.append([
                make_place(r, f"town{k}-temple", _near(r, e, 400, 1500), False, SUBURB),
                make_place(r, f"town{k}-museum", _near(r, e, 300, 1200)),
                make_place(r, f"town{k}-lunch", _near(r, e, 100, 500)),
                make_place(r, f"town{k}-view", _near(r, e, 800, 2500), False, OPEN)])

    # -- moving around
    def station_walk(self, to_xy, under: bool, kind="station") -> None:
        s, r = self.sim, self.rng
        a = s.xy.copy()
        if _dist(a, to_xy) < 30:  # a transfer between platforms of one station
            pts = [a, a + _polar(r.uniform(40, 110), r.uniform(0, 6.3)),
                   a + _polar(r.uniform(40, 110), r.uniform(0, 6.3)), to_xy]
        else:
            pts = [a, (a + to_xy) / 2 + r.normal(0, 25, 2), to_xy]
        self.walk_path(Path(pts), NOFIX if under else INDOOR, kind, v=0.85 * self.vw)

    def ride(self, li: int, hops, rapid: bool) -> None:
        s, r = self.sim, self.rng
        ln = self.rail.lines[li]
        paths, bounds, u0s, u1s, limits, events = [], [0.0], [], [], [], []
        crowd = 1.3 if self.rush() else 1.0
        for i, (k0, k1) in enumerate(hops):
            p = ln.path.sub(ln.st_s[k0], ln.st_s[k1])
            limits.append((bounds[-1], ln.hop_v[min(k0, k1)]))
            paths.append(p)
            u0s.append(k0 in ln.under)
            u1s.append(k1 in ln.under)
            bounds.append(bounds[-1] + p.length)
            if i < len(hops) - 1 and (not rapid or k1 in ln.major):
                events.append((bounds[-1], 0.0, r.uniform(*ln.dwell) * crowd))
        path = join(paths)
        bnd, U0, U1 = np.array(bounds), np.array(u0s), np.array(u1s)

        def env(sv):
            i = np.clip(np.searchsorted(bnd, sv, side="right") - 1, 0, len(U0) - 1)
            frac = (sv - bnd[i]) / np.maximum(bnd[i + 1] - bnd[i], 1.0)
            return np.where(np.where(frac < 0.5, U0[i], U1[i]), NOFIX, RAIL)

        s.move(path, TRAIN, ln.kind, limits, ln.acc, ln.dec, events, 0.02, 60, env)

    def by_rail(self, rt, dest_xy=None) -> None:
        s, r, rail = self.sim, self.rng, self.rail
        if _dist(s.xy, rail.entr[rt["board"]]) > 5:
            self.walk(rail.entr[rt["board"]])
        prev_under = False
        for i, (li, hops) in enumerate(rt["rides"]):
            ln = rail.lines[li]
            k0 = hops[0][0]
            under = k0 in ln.under
            self.station_walk(rail.st[ln.ids[k0]], under or prev_under,
                              "station" if i == 0 else "transfer")
            if ln.kind == "limited-express":
                wait = r.uniform(300, 900)
            else:
                wait = r.uniform(0.05, 1.0) * ln.headway * (0.7 if self.rush() else 1.0)
            s.wait(wait, NOFIX if under else URBAN)
            rapid = bool(ln.major) and k0 in ln.major and hops[-1][1] in ln.major \
                and r.random() < 0.5
            self.ride(li, hops, rapid)
            prev_under = hops[-1][1] in ln.under
        self.station_walk(rail.entr[rt["alight"]], prev_under)
        if dest_xy is not None:
            self.walk(dest_xy)

    def bus(self, xy, kind="bus", vmax=11.0) -> None:
        s, r = self.sim, self.rng
        a = s.xy.copy()
        xy = np.asarray(xy, float)
        u = _unit(xy - a)
        stop_a = a + u * r.uniform(80, 220) + _perp(u) * r.normal(0, 80)
        stop_b = xy - u * r.uniform(80, 250) + _perp(u) * r.normal(0, 60)
        self.walk(stop_a)
        s.wait(r.uniform(60, 720), URBAN)
        path = streets(r, stop_a, stop_b, bend=8.0, turns=int(r.integers(2, 5)))
        h = s.hour()
        tf = r.uniform(0.55, 0.9) if 7 <= h < 20 else r.uniform(0.85, 1.0)
        ev = [(x, 0.0, r.uniform(12, 40)) for x in spaced(r, path.length, (250, 450))
              if r.random() < 0.75]
        ev += lights(r, path.length, (120, 300), 0.45, (5, 55))
        ev += [(x, car_turn(deg) * 0.8, 0.0) for x, deg in path.turns(40)]
        s.move(path, BUS, kind, [(0.0, vmax * tf)], 0.9, 1.1, ev, 0.12, 40, URBAN)
        self.walk(xy)

    def bike(self, xy, v=None, kind="bike") -> None:
        s, r = self.sim, self.rng
        path = streets(r, s.xy, xy, bend=6.0)
        ev = lights(r, path.length, (100, 250), 0.3, (5, 40))
        ev += [(x, 3.0, 0.0) for x, _ in path.turns(40)]
        s.move(path, BIKE, kind, [(0.0, v or r.uniform(4.2, 5.0))], 0.5, 1.2, ev, 0.08, 30,
               URBAN)

    def go(self, dest: Place, late=False, src=None) -> None:
        """Walk if near, a taxi late at night, otherwise the fastest rail route."""
        s = self.sim
        d = _dist(s.xy, dest.xy)
        if src is None and d < self.walk_max:
            self.walk(dest.xy)
        elif late:
            self.taxi(dest.xy)
        else:
            rt = self.rail.route(s.xy, dest.xy, src=src, vw=self.vw)
            if rt is None or (src is None and rt["cost"] > d * 1.3 * WALK_WEIGHT / self.vw):
                if d < 4000:
                    self.walk(dest.xy)
                else:
                    self.taxi(dest.xy)
            else:
                self.by_rail(rt, dest.xy)
        self.arrive(dest)

    def to_station(self) -> None:
        """Home to the home station entrance: walk, the bicycle, or the bus."""
        r = self.rng
        e = self.rail.entr[self.home_sid]
        u = r.random()
        if not self.bike_at_station and u < 0.25:
            self.bike(e + r.normal(0, 40, 2))
            self.bike_at_station = True
            self.walk(e, red=0)
        elif u < 0.4:
            self.bus(e)
        else:
            self.walk(e)

    def go_home(self, late=False) -> None:
        s, r = self.sim, self.rng
        e = self.rail.entr[self.home_sid]
        if late and _dist(s.xy, self.home.xy) > self.walk_max:
            self.taxi(self.home.xy)
        elif _dist(s.xy, self.home.xy) < self.walk_max and not self.bike_at_station:
            self.walk(self.home.xy)
        else:
            if _dist(s.xy, e) > 700:
                rt = self.rail.route(s.xy, e, dst=self.home_sid, vw=self.vw)
                if rt is None:
                    self.taxi(e)
                else:
                    self.by_rail(rt)
            else:
                self.walk(e)
            if self.bike_at_station:
                self.walk(e + r.normal(0, 40, 2), red=0)
                self.bike(self.home.xy)
                self.bike_at_station = False
            elif r.random() < 0.15:
                self.bus(self.home.xy)
            else:
                self.walk(self.home.xy)
        self.arrive(self.home)

    def errand(self, p: Place, seconds: float, bike=False) -> None:
        """From home to a nearby place and back."""
        if bike:
            self.bike(p.xy)
        else:
            self.walk(p.xy)
        self.arrive(p)
        self.sim.idle(seconds)
        if bike:
            self.bike(self.home.xy)
        else:
            self.walk(self.home.xy)
        self.arrive(self.home)

    # -- days
    def workday(self, d: int) -> None:
        s, r = self.sim, self.rng
        if r.random() < 0.1:
            return self.home_day(d)
        s.idle_until(s.local(d, r.uniform(7.2, 8.6)))
        if r.random() < 0.2:
            self.walk(self.konbini_home.xy)
            self.arrive(self.konbini_home)
            s.idle(r.uniform(180, 600))
        self.to_station()
        if r.random() < 0.1:
            self.walk(self.konbini_st.xy)
            self.arrive(self.konbini_st)
            s.idle(r.uniform(180, 600))
            self.walk(self.rail.entr[self.home_sid])
        rt = self.rail.route(s.xy, self.office.xy, src=self.home_sid, vw=self.vw)
        if r.random() < 0.15:
            self.by_rail(rt, self.konbini_work.xy)
            self.arrive(self.konbini_work)
            s.idle(r.uniform(180, 600))
            self.walk(self.office.xy)
        else:
            self.by_rail(rt, self.office.xy)
        self.stay(self.office, s.local(d, r.uniform(11.8, 12.6)), 1800)
        u = r.random()
        if u < 0.6:
            p = self.lunch[int(r.integers(3))]
            self.walk(p.xy)
            self.arrive(p)
            s.idle(r.uniform(1800, 3300))
            self.walk(self.office.xy)
        elif u < 0.85:
            self.walk(self.konbini_work.xy)
            self.arrive(self.konbini_work)
            s.idle(r.uniform(180, 600))
            self.walk(self.office.xy)
        end = r.uniform(17.5, 20.5) + (0.5 if self.weekday(d) == 4 else 0.0)
        self.stay(self.office, s.local(d, end), 1800)
        u = r.random()
        if u < 0.3 + (0.15 if self.weekday(d) == 4 else 0):
            dist = self.districts[int(r.integers(3))]
            self.go(dist[0])
            s.idle(r.uniform(5400, 9000))
            if r.random() < 0.45:
                p = dist[1 + int(r.integers(2))]
                self.walk(p.xy)
                self.arrive(p)
                s.idle(r.uniform(3600, 7200))
            self.go_home(late=s.hour() >= 23.9 or s.hour() < 5)
        elif u < 0.45:
            self.go_home()
            s.idle(r.uniform(600, 1500))
            self.walk(self.gym.xy)
            self.arrive(self.gym)
            s.idle(r.uniform(3600, 5400))
            self.walk(self.home.xy)
            self.arrive(self.home)
        else:
            self.go_home()
            if r.random() < 0.3:
                s.idle(r.uniform(300, 1800))
                self.errand(self.supermarket, r.uniform(600, 1500))
        if r.random() < 0.2 and s.hour() < 22.5 and s.hour() > 12:
            s.idle_until(s.local(d, r.uniform(21.0, 23.0)))
            self.errand(self.konbini_home, r.uniform(150, 480))

    def home_day(self, d: int) -> None:
        s, r = self.sim, self.rng
        s.idle_until(s.local(d, r.uniform(11.8, 12.6)))
        if r.random() < 0.6:
            self.errand(self.konbini_home, r.uniform(150, 600))
        if r.random() < 0.3:
            s.idle_until(s.local(d, r.uniform(14, 16)))
            self.walk(self.cafe.xy if _dist(self.home.xy, self.cafe.xy) < 2000 else
                      self.konbini_st.xy)
            p = self.cafe if _dist(self.home.xy, self.cafe.xy) < 2000 else self.konbini_st
            self.arrive(p)
            s.idle(r.uniform(1800, 5400))
            self.walk(self.home.xy)
            self.arrive(self.home)
        if r.random() < 0.5:
            s.idle_until(s.local(d, r.uniform(17, 19)))
            self.errand(self.supermarket, r.uniform(600, 1500), bike=r.random() < 0.4)

    def weekend(self, d: int) -> None:
        s, r = self.sim, self.rng
        week = (d + self.wd0) // 7
        if d in self.ride_days:
            s.idle_until(s.local(d, r.uniform(8.0, 10.0)))
            return self.bike_ride(d, dense=True)
        if self.daytrip_week != week and r.random() < 0.3:
            self.daytrip_week = week
            return self.day_trip(d)
        s.idle_until(s.local(d, r.uniform(8.5, 11.0)))
        if r.random() < 0.15:
            return self.bike_ride(d)
        if r.random() < 0.55:
            self.errand(self.supermarket, r.uniform(1200, 2400), bike=r.random() < 0.5)
        u = r.random()
        s.idle_until(s.local(d, r.uniform(12.5, 14.5)))
        if u < 0.4:
            self.go(self.dept)
            s.idle(r.uniform(3600, 10800))
            self.walk(self.cafe.xy)
            self.arrive(self.cafe)
            s.idle(r.uniform(2400, 4800))
            self.go_home()
        elif u < 0.6:
            self.go(self.friend)
            s.idle(r.uniform(7200, 18000))
            self.go_home(late=s.hour() >= 23.9 or s.hour() < 5)
        elif u < 0.75:
            self.bus(self.clinic.xy)
            self.arrive(self.clinic)
            s.idle(r.uniform(1800, 3600))
            self.bus(self.home.xy)
            self.arrive(self.home)
        elif u < 0.95:
            self.walk(self.park.xy, SUBURB)
            self.arrive(self.park)
            s.idle(r.uniform(1800, 5400))
            self.walk(self.home.xy, SUBURB)
            self.arrive(self.home)
        if r.random() < 0.15 and s.hour() < 18.5:
            s.idle_until(s.local(d, r.uniform(18.0, 19.0)))
            dist = self.districts[int(r.integers(3))]
            self.go(dist[0])
            s.idle(r.uniform(5400, 9000))
            self.go_home(late=s.hour() >= 23.9 or s.hour() < 5)

    def day_trip(self, d: int) -> None:
        s, r = self.sim, self.rng
        s.idle_until(s.local(d, r.uniform(7.0, 9.0)))
        town = self.towns[int(r.integers(3))]
        order = [town[0], town[2], town[1], town[3]] if r.random() < 0.5 else \
            [town[1], town[2], town[3], town[0]]
        self.walk(self.rail.entr[self.home_sid])
        self.go(order[0], src=self.home_sid)
        for p in order[1:]:
            s.idle(r.uniform(1800, 5400) if p is not town[2] else r.uniform(2700, 4200))
            dd = _dist(s.xy, p.xy)
            if dd > 1800 and r.random() < 0.5:
                self.bus(p.xy, kind="bus")
            elif dd > 1800:
                self.taxi(p.xy)
            else:
                self.walk(p.xy, SUBURB)
            self.arrive(p)
        s.idle(r.uniform(1800, 4800))
        self.go_home()

    def bike_ride(self, d: int, dense: bool | None = None) -> None:
        """A long ride along the river, often recorded with a sports tracker (1 s)."""
        s, r = self.sim, self.rng
        dense = r.random() < 0.8 if dense is None else dense
        v = r.uniform(5.5, 7.0)
        start = self.river.start
        path = streets(r, s.xy, start, bend=6.0)
        s.move(path, BIKE, "bike", [(0.0, 5.0)], 0.6, 1.3, lights(r, path.length, (150, 300),
                                                                  0.3, (5, 40)),
               0.08, 30, URBAN, dense=dense)
        far = r.uniform(8000, 20000)
        out = self.river.sub(0, far)
        ev = [(x, 0.0, r.uniform(3, 30)) for x in spaced(r, out.length, (1500, 4000))
              if r.random() < 0.4]
        s.move(out, BIKE, "bike", [(0.0, v)], 0.6, 1.3, ev, 0.1, 60, OPEN, dense=dense)
        rest = make_place(r, "river-rest", s.xy, indoor=False, env=OPEN)
        self.arrive(rest)
        s.idle(r.uniform(300, 1500))
        s.move(out.reversed(), BIKE, "bike", [(0.0, v * 0.95)], 0.6, 1.3, ev, 0.1, 60, OPEN,
               dense=dense)
        path = streets(r, s.xy, self.home.xy, bend=6.0)
        s.move(path, BIKE, "bike", [(0.0, 5.0)], 0.6, 1.3, lights(r, path.length, (150, 300),
                                                                  0.3, (5, 40)),
               0.08, 30, URBAN, dense=dense)
        self.arrive(self.home)

    def fly_away(self, d: int, nights: int, intl: bool) -> int:
        """A flight: abroad (another time zone, holiday) or a domestic business trip."""
        s, r = self.sim, self.rng
        if intl:
            center = _polar(r.uniform(2800e3, 4500e3), math.radians(r.uniform(200, 250)))
            tz = float(r.choice([7.0, 8.0]))
        else:
            center = _polar(r.uniform(700e3, 1000e3), math.radians(
                r.choice([r.uniform(30, 60), r.uniform(235, 260)])))
            tz = 9.0
        away = Away(r, center, tz, "abroad" if intl else "domestic")
        s.idle_until(s.local(d, r.uniform(6.5, 10.0)))
        if r.random() < 0.35:
            self.walk(self.rail.entr[self.home_sid])
            self.airport_bus(self.airport.xy)
            self.arrive(self.airport)
        else:
            self.go(self.airport)
        s.idle(r.uniform(3000, 6000))
        self.fly(self.airport, self.runway, away.airport, away.runway, tz)
        self.taxi(away.hotel.xy, wait=(120, 600))
        self.away_days(away, d, nights, business=not intl)
        self.fly(away.airport, away.runway, self.airport, self.runway, 9.0)
        if s.hour() >= 22.5 or s.hour() < 5:
            self.taxi(self.home.xy, wait=(120, 600))
            self.arrive(self.home)
        else:
            self.go_home()
        self.trips.append(dict(kind="flight", start_day=d, nights=nights, tz=tz))
        self.params.setdefault("trips", []).append(dict(kind="intl" if intl else "domestic",
                                                        day=d, nights=nights, tz=tz))
        return d + nights + 1

    def airport_bus(self, xy) -> None:
        """The limousine bus from the home station to the airport, over the expressway."""
        s, r = self.sim, self.rng
        s.wait(r.uniform(120, 900), URBAN)
        a = s.xy.copy()
        u = _unit(xy - a)
        on = a + u * r.uniform(1000, 2500) + _perp(u) * r.normal(0, 500)
        off = xy - u * r.uniform(1000, 2500) + _perp(u) * r.normal(0, 500)
        p1, p3 = streets(r, a, on, bend=6), streets(r, off, xy, bend=6)
        x = curve(r, on, off, 0.04, 40)
        lim, ev = jam(r, x.length, 22.0, 0.4)
        parts = [Part.of(p1, 11.0, lights(r, p1.length, (120, 300), 0.45, (5, 55)), URBAN),
                 Part(x, lim, ev, URBAN),
                 Part.of(p3, 12.0, lights(r, p3.length, (200, 400), 0.3, (5, 40)), SUBURB)]
        path, limits, events, envf = compose(parts, lambda deg: car_turn(deg) * 0.8)
        s.move(path, BUS, "airport-bus", limits, 0.9, 1.1, events, 0.08, 40, envf)


# --------------------------------------------------------------------------- the suburb


class Freeway:
    def __init__(self, path: Path, xs: list[tuple[float, np.ndarray]], j: float):
        self.path, self.xs, self.j = path, xs, j

    def tangent(self, s: float, sg: float) -> np.ndarray:
        return _unit(self.path.point(s + 5 * sg) - self.path.point(s - 5 * sg))


class Suburb(Life):
    """A car-centric North American suburb: a mile grid of arterials with lights, two
    freeways, subdivisions, big parking lots, drive-throughs, a school run, a commuter
    train downtown some days, weekend rides, a road trip with motels, a flight."""

    CITIES = [(41.881, -87.630, -6), (32.777, -96.797, -6), (33.749, -84.388, -5),
              (39.739, -104.990, -7), (47.606, -122.332, -8), (44.978, -93.265, -6),
              (39.961, -82.999, -5)]
    env_walk = SUBURB
    M = 1609.34

    @classmethod
    def center(cls, rng):
        lat, lon, tz = cls.CITIES[int(rng.integers(len(cls.CITIES)))]
        return lat + rng.normal(0, 0.02), lon + rng.normal(0, 0.02), float(tz)

    def __init__(self, rng, sim, days, wd0):
        super().__init__(rng, sim, days, wd0)
        self.vw = rng.uniform(1.2, 1.4)
        self.vfree = rng.uniform(29, 34)
        self.acc, self.dec = rng.uniform(1.3, 1.9), rng.uniform(1.5, 2.1)
        self.p_train = rng.uniform(0.25, 0.45)
        self.creep: dict[str, tuple] = {}
        self._build()
        self.arrive(self.home)
        taken: set[int] = set()
        if days >= 10:
            for _ in range(100):
                d0 = int(rng.integers(2, days - 5))
                if self.weekday(d0) in (4, 5):
                    n = int(rng.integers(2, 4))
                    self.special[d0] = lambda d, n=n: self.road_trip(d, n)
                    taken |= set(range(d0 - 1, d0 + n + 2))
                    break
        if days >= 20:
            for _ in range(100):
                d0 = int(rng.integers(2, days - 5))
                n = int(rng.integers(2, 4))
                if self.weekday(d0) < 3 and not taken & set(range(d0 - 1, d0 + n + 2)):
                    self.special[d0] = lambda d, n=n: self.fly_trip(d, n)
                    taken |= set(range(d0 - 1, d0 + n + 2))
                    break
        self.ride_days = _ride_days(rng, self, days, taken, weekday=5)
        self.params.update(vw=self.vw, v_freeway=self.vfree, p_train=self.p_train,
                           home_km=round(float(np.hypot(*self.home.xy)) / 1000, 1))

    # -- the world
    def snap(self, p) -> np.ndarray:
        M = self.M
        gx, gy = round(p[0] / M) * M, round(p[1] / M) * M
        return np.array([gx, p[1]]) if abs(p[0] - gx) < abs(p[1] - gy) else np.array([p[0], gy])

    def _on_v(self, p) -> bool:
        return abs(p[0] - round(p[0] / self.M) * self.M) < 0.5

    def lot_place(self, key, near, r0, r1, walk=(30, 110), indoor=True, env=SUBURB,
                  gas=False) -> Place:
        r = self.rng
        p = _near(r, near, r0, r1)
        road = self.snap(p)
        along = np.array([0.0, 1.0]) if self._on_v(road) else np.array([1.0, 0.0])
        into = _perp(along)
        if (p - road) @ into < 0:
            into = -into
        park = road + along * r.uniform(-40, 40) + into * r.uniform(50, 140)
        access = Path([road, road + into * 15, park])
        xy = park if gas else park + into * r.uniform(*walk) + along * r.normal(0, 20)
        pl = make_place(r, key, xy, indoor and not gas, env)
        pl.road, pl.access, pl.park, pl.access_v = road, access, park, 4.5
        return pl

    def sub_place(self, key, xy) -> Place:
        """A house in a subdivision: winding streets with stop signs to the arterial."""
        r = self.rng
        xy = np.asarray(xy, float)
        road = self.snap(xy)
        if _dist(road, xy) < 400:
            xy = road + _unit(xy - road if _dist(road, xy) > 1 else r.normal(0, 1, 2)) \
                * r.uniform(400, 800)
            road = self.snap(xy)
        pl = make_place(r, key, xy, True, SUBURB)
        pl.road, pl.park, pl.access_v = road, xy.copy(), 11.0
        pl.access = curve(r, road, xy, 0.12, 20, 4)
        return pl

    def through_place(self, key, near, r0, r1, loop_len, gap, dwell, window) -> Place:
        """A drive-through or a school car line: a creeping loop round the building."""
        pl = self.lot_place(key, near, r0, r1, walk=(0, 1), indoor=False)
        a = pl.park
        u = _unit(pl.park - pl.road)
        v = _perp(u)
        w = loop_len / 4
        loop = Path([a, a + u * w, a + u * w + v * w, a + v * w, a + v * 2])
        self.creep[key] = (loop, gap, dwell, window)
        return pl

    def _freeway(self, path: Path, j: float) -> Freeway:
        r = self.rng
        xs = []
        for s in spaced(r, path.length - 800, (1600, 3200), start=800):
            p = path.point(s)
            t = _unit(path.point(s + 5) - path.point(s - 5))
            xs.append((s, self.snap(p + _perp(t) * r.choice([-1, 1]) * r.uniform(150, 350))))
        return Freeway(path, xs, j)

    def _build(self) -> None:
        r = self.rng
        th = r.uniform(0, 2 * math.pi)
        u = _polar(1.0, th)
        n = _perp(u)
        home_xy = u * r.uniform(22000, 34000)
        hp = home_xy + n * r.choice([-1, 1]) * r.uniform(2500, 5000)
        df = _unit(hp)
        f1 = join([curve(r, -df * 3000, hp, 0.01, 60), curve(r, hp, hp + df * 30000, 0.01, 60)])
        target = r.uniform(12000, 18000)
        sj = float(f1.cum[int(np.argmin(np.abs(np.hypot(*f1.pts.T) - target)))])
        J = f1.point(sj)
        nf = _perp(df)
        a = curve(r, J - nf * 25000 + df * r.normal(0, 2000), J, 0.015, 60)
        b = curve(r, J, J + nf * 25000 + df * r.normal(0, 2000), 0.015, 60)
        f2 = join([a, b])
        self.fw = [self._freeway(f1, sj), self._freeway(f2, a.length)]
        # places
        self.home = self.sub_place("home", home_xy)
        hx = self.home.xy
        self.school = self.through_place("school-line", hx, 2000, 5000, 200, (10, 25), (5, 20),
                                         (15, 40))
        self.school_pu = make_place(r, "school", self.school.park, False, SUBURB)
        for k in ("road", "access", "park", "access_v"):
            setattr(self.school_pu, k, getattr(self.school, k))
        self.coffee = self.through_place("coffee-drive-thru", hx, 1000, 3500, 100, (6, 10),
                                         (10, 35), (30, 90))
        self.fastfood = self.through_place("burger-drive-thru", hx, 2000, 5000, 110, (6, 10),
                                           (10, 40), (40, 100))
        self.gym = self.lot_place("gym", hx, 3000, 8000)
        self.grocery = self.lot_place("grocery", hx, 1500, 4000)
        self.bigbox = self.lot_place("big-box", hx, 6000, 12000, walk=(60, 200))
        self.gas = self.lot_place("gas", hx, 1000, 4000, gas=True, indoor=False)
        self.church = self.lot_place("church", hx, 2000, 6000)
        self.soccer = self.lot_place("soccer-field", hx, 2000, 5000, walk=(50, 200),
                                     indoor=False)
        self.food = [self.lot_place(f"restaurant{i}", hx, 3000, 12000) for i in range(3)]
        self.friend = self.sub_place("friend", _near(r, hx, 6000, 15000))
        self.trailhead = self.lot_place("trailhead", hx, 12000, 25000, walk=(5, 30),
                                        indoor=False, env=OPEN)
        far = _near(r, self.trailhead.xy, 8000, 18000)
        self.trail = join([curve(r, self.trailhead.xy, far, 0.1, 30, 4),
                           curve(r, far, self.trailhead.xy, 0.1, 30, 4)])
        self.office = self.lot_place("office", (0, 0), 200, 1500, walk=(200, 500), env=URBAN)
        self.lunch = [make_place(r, f"lunch{i}", _near(r, self.office.xy, 150, 500))
                      for i in range(3)]
        # commuter rail: a park-and-ride near home to a downtown terminal
        self.rail = Rail(r)
        far = _polar(r.uniform(45000, 55000), th + r.normal(0, 0.12))
        term = self.rail.station(_near(r, (0, 0), 500, 1200))
        self.train = self.rail.add_line("R1", "commuter-rail", [far, far * 0.5 + _perp(_unit(
            far)) * r.normal(0, 2000), term], (3000, 6000), 0.02, vmax=32.0, acc=0.45,
            dec=0.7, dwell=(30, 60), headway=1800)
        k = int(np.argmin([_dist(self.rail.st[sid], hx) for sid in self.train.ids[:-1]]))
        self.pr_k = k
        self.pr = self.lot_place("park-ride", self.rail.st[self.train.ids[k]], 60, 200,
                                 walk=(5, 20), indoor=False)
        # airport
        apt = _polar(r.uniform(18000, 30000), r.uniform(0, 2 * math.pi))
        self.airport = make_place(r, "airport", apt, env=OPEN)
        self.runway = apt + _polar(r.uniform(1500, 3500), r.uniform(0, 6.3))
        self.econ = self.lot_place("airport-parking", apt, 2000, 3500, walk=(20, 80),
                                   indoor=False)

    # -- roads
    def grid_route(self, p, q) -> Path:
        M, r = self.M, self.rng
        if (self._on_v(p) and self._on_v(q) and abs(p[0] - q[0]) < 1) or \
                (not self._on_v(p) and not self._on_v(q) and abs(p[1] - q[1]) < 1):
            return Path([p, q])

        def nodes(x):
            if self._on_v(x):
                gx = round(x[0] / M) * M
                return [np.array([gx, math.floor(x[1] / M) * M]),
                        np.array([gx, math.ceil(x[1] / M) * M])]
            gy = round(x[1] / M) * M
            return [np.array([math.floor(x[0] / M) * M, gy]),
                    np.array([math.ceil(x[0] / M) * M, gy])]

        best = None
        for a in nodes(p):
            for b in nodes(q):
                for c in (np.array([a[0], b[1]]), np.array([b[0], a[1]])):
                    pts = [p, a, c, b, q]
                    L = sum(abs(x[0] - y[0]) + abs(x[1] - y[1])
                            for x, y in zip(pts, pts[1:], strict=False)) + r.uniform(0, 50)
                    if best is None or L < best[0]:
                        best = (L, pts)
        return Path(np.array(best[1]))

    def grid_lights(self, path: Path, rush: bool) -> list:
        """Signals at mile (always) and half-mile (half of them) crossings and at turns."""
        r = self.rng
        half = self.M / 2
        p_red = 0.5 if rush else 0.42
        ev = []
        pts = path.pts
        for i in range(len(pts) - 1):
            a, b = pts[i], pts[i + 1]
            s0 = float(path.cum[i])
            ax = 0 if abs(b[0] - a[0]) >= abs(b[1] - a[1]) else 1
            lo, hi = sorted((a[ax], b[ax]))
            for k in range(math.floor(lo / half) + 1, math.ceil(hi / half)):
                c = k * half
                if lo + 5 < c < hi - 5:
                    if (k % 2 == 0 or r.random() < 0.5) and r.random() < p_red:
                        ev.append((s0 + abs(c - a[ax]), 0.0, r.uniform(5, 80)))
            if 0 < i + 1 < len(pts) - 1 and r.random() < p_red:
                ev.append((float(path.cum[i + 1]), 0.0, r.uniform(5, 80)))
        return ev

    def arterial(self, p, q, rush, va) -> list[Part]:
        if _dist(p, q) < 1:
            return []
        path = self.grid_route(p, q)
        return [Part(path, [(0.0, va)], self.grid_lights(path, rush), SUBURB)]

    def ramp_on(self, F: Freeway, s_in, sg, ramp) -> Part:
        fin = F.path.point(s_in)
        return Part.of(bezier(ramp, fin - F.tangent(s_in, sg) * 350, fin), 17.0, env=SUBURB)

    def ramp_off(self, F: Freeway, s_out, sg, ramp) -> Part:
        fo = F.path.point(s_out)
        p = bezier(fo, fo + F.tangent(s_out, sg) * 350, ramp)
        ev = [(p.length - 1.0, 0.0, self.rng.uniform(10, 60))] if self.rng.random() < 0.6 else []
        return Part.of(p, 15.0, ev, SUBURB)

    def main(self, F: Freeway, s0, s1, rush) -> Part:
        p = F.path.sub(s0, s1)
        lim, ev = jam(self.rng, p.length, self.vfree, 0.65 if rush else 0.08)
        return Part(p, lim, ev, OPEN)

    def road_parts(self, p, q, rush) -> list[Part]:
        """Arterials only, or one freeway, or two through their junction: the fastest."""
        r = self.rng
        if _dist(p, q) < 1:
            return []
        va = r.uniform(17, 21) * (r.uniform(0.7, 0.85) if rush else r.uniform(0.92, 1.05))

        def man(a, b):
            return abs(a[0] - b[0]) + abs(a[1] - b[1])

        def near(F, x):
            return min(range(len(F.xs)), key=lambda i: man(F.xs[i][1], x))

        vt = 0.6 * va
        best = (man(p, q) / vt, None)
        for F in self.fw:
            ia, ib = near(F, p), near(F, q)
            if ia != ib:
                t = man(p, F.xs[ia][1]) / vt + abs(F.xs[ia][0] - F.xs[ib][0]) / self.vfree \
                    + man(F.xs[ib][1], q) / vt + 60
                if t < best[0]:
                    best = (t, ("one", F, ia, ib))
        for A, B in ((self.fw[0], self.fw[1]), (self.fw[1], self.fw[0])):
            ia, ib = near(A, p), near(B, q)
            t = man(p, A.xs[ia][1]) / vt + (abs(A.xs[ia][0] - A.j) + abs(B.j - B.xs[ib][0])) \
                / self.vfree + man(B.xs[ib][1], q) / vt + 90
            if t < best[0]:
                best = (t, ("two", A, B, ia, ib))
        plan = best[1]
        if plan is None:
            return self.arterial(p, q, rush, va)
        if plan[0] == "one":
            _, F, ia, ib = plan
            (sa, ra), (sb, rb) = F.xs[ia], F.xs[ib]
            sg = 1.0 if sb > sa else -1.0
            return [*self.arterial(p, ra, rush, va), self.ramp_on(F, sa, sg, ra),
                    self.main(F, sa, sb, rush), self.ramp_off(F, sb, sg, rb),
                    *self.arterial(rb, q, rush, va)]
        _, A, B, ia, ib = plan
        (sa, ra), (sb, rb) = A.xs[ia], B.xs[ib]
        ga = 1.0 if A.j > sa else -1.0
        gb = 1.0 if sb > B.j else -1.0
        ea = A.j - 400 * ga
        if (ea - sa) * ga < 0:
            ea = sa
        xb = B.j + 400 * gb
        if (sb - xb) * gb < 0:
            xb = sb
        conn = bezier(A.path.point(ea), A.path.point(A.j), B.path.point(xb))
        return [*self.arterial(p, ra, rush, va), self.ramp_on(A, sa, ga, ra),
                self.main(A, sa, ea, rush), Part.of(conn, 18.0, env=OPEN),
                self.main(B, xb, sb, rush), self.ramp_off(B, sb, gb, rb),
                *self.arterial(rb, q, rush, va)]

    def access(self, p: Place, out: bool) -> Part:
        r = self.rng
        path = p.access.reversed() if out else p.access
        ev = []
        if p.access_v > 8:  # subdivision streets: stop signs, not always a full stop
            for x in spaced(r, path.length, (150, 250)):
                ev.append((x, 0.0, r.uniform(0, 2)) if r.random() < 0.7 else (x, 2.5, 0.0))
            if out:
                ev.append((path.length - 1.0, 0.0, r.uniform(1, 15)))
        return Part(path, [(0.0, p.access_v)], ev, SUBURB)

    def through(self, c: Place) -> list[Part]:
        r = self.rng
        loop, gap, dwell, window = self.creep[c.key]
        ev = [(x, 0.0, r.uniform(*dwell)) for x in spaced(r, loop.length * 0.75, gap)]
        ev.append((loop.length * 0.8, 0.0, r.uniform(*window)))
        return [Part.of(c.access, 4.5, env=SUBURB), Part.of(loop, 2.5, ev, SUBURB),
                Part.of(Path([loop.end, c.road]), 4.5, env=SUBURB)]

    def drive(self, dest: Place, via: Sequence[Place] = (), kind="drive") -> None:
        s = self.sim
        cur = self.here
        if cur.park is not None and _dist(s.xy, cur.park) > 3:
            self.walk(cur.park, URBAN if cur.env == URBAN else SUBURB, red=0)
        rush = self.rush()
        parts = [self.access(cur, True)]
        p = cur.road
        for c in via:
            parts += self.road_parts(p, c.road, rush)
            parts += self.through(c)
            p = c.road
        parts += self.road_parts(p, dest.road, rush)
        parts.append(self.access(dest, False))
        path, limits, events, envf = compose(parts, car_turn)
        s.move(path, CAR, kind, limits, self.acc, self.dec, events, 0.06, 25, envf)
        if _dist(dest.park, dest.xy) > 3:
            self.walk(dest.xy, URBAN if dest.env == URBAN else SUBURB, red=0.2 if
                      dest.env == URBAN else 0)
        self.arrive(dest)

    def errand(self, p: Place, seconds: float, via=()) -> None:
        self.drive(p, via)
        self.sim.idle(seconds)

    # -- days
    def maybe_gas(self) -> None:
        if self.rng.random() < 0.15:
            self.errand(self.gas, self.rng.uniform(180, 480))

    def commute_train(self, d: int, via) -> None:
        s, r, rail = self.sim, self.rng, self.rail
        ln = self.train
        self.drive(self.pr, via)
        self.walk(rail.st[ln.ids[self.pr_k]], SUBURB, red=0)
        s.wait(r.uniform(180, 600), SUBURB)
        hops = [(k, k + 1) for k in range(self.pr_k, len(ln.ids) - 1)]
        self.ride_train(hops)
        self.walk_path(Path([s.xy, _near(r, s.xy, 100, 200)]), INDOOR)
        self.walk(self.office.xy, URBAN, red=0.4)
        self.arrive(self.office)
        self.office_hours(d)
        self.walk(rail.entr[ln.ids[-1]], URBAN, red=0.4)
        self.walk_path(Path([s.xy, rail.st[ln.ids[-1]]]), INDOOR)
        s.wait(r.uniform(120, 900), INDOOR)
        self.ride_train([(k + 1, k) for k in range(len(ln.ids) - 2, self.pr_k - 1, -1)])
        self.walk(self.pr.xy, SUBURB, red=0)
        self.arrive(self.pr)

    def ride_train(self, hops) -> None:
        s, r = self.sim, self.rng
        ln = self.train
        paths, bounds, events = [], [0.0], []
        for i, (k0, k1) in enumerate(hops):
            p = ln.path.sub(ln.st_s[k0], ln.st_s[k1])
            paths.append(p)
            bounds.append(bounds[-1] + p.length)
            if i < len(hops) - 1:
                events.append((bounds[-1], 0.0, r.uniform(*ln.dwell)))
        s.move(join(paths), TRAIN, ln.kind, [(0.0, ln.hop_v[0])], ln.acc, ln.dec, events, 0.03,
               60, RAIL)

    def office_hours(self, d: int) -> None:
        s, r = self.sim, self.rng
        self.stay(self.office, s.local(d, r.uniform(11.7, 12.5)), 1800)
        if r.random() < 0.5:
            p = self.lunch[int(r.integers(3))]
            self.walk(p.xy, URBAN, red=0.4)
            self.arrive(p)
            s.idle(r.uniform(1500, 3000))
            self.walk(self.office.xy, URBAN, red=0.4)
            self.arrive(self.office)
        self.stay(self.office, s.local(d, r.uniform(16.5, 18.0)), 1800)

    def workday(self, d: int) -> None:
        s, r = self.sim, self.rng
        wd = self.weekday(d)
        office = (wd in (1, 2, 3) or r.random() < 0.15) and r.random() > 0.08
        drop = r.random() < 0.6
        if r.random() < 0.2:
            s.idle_until(s.local(d, r.uniform(5.6, 6.2)))
            self.errand(self.gym, r.uniform(3300, 4800))
            self.drive(self.home)
        if office:
            s.idle_until(s.local(d, r.uniform(7.3, 7.6) if drop else r.uniform(6.8, 8.2)))
            via = [self.school] if drop else []
            if r.random() < self.p_train:
                self.commute_train(d, via)
            else:
                if r.random() < 0.3:
                    via.append(self.coffee)
                self.drive(self.office, via)
                self.office_hours(d)
            self.maybe_gas()
            if r.random() < 0.2:
                self.errand(self.grocery, r.uniform(1200, 2400))
            self.drive(self.home)
        else:
            if drop:
                s.idle_until(s.local(d, r.uniform(7.3, 7.6)))
                self.drive(self.home, [self.school])
            s.idle_until(s.local(d, r.uniform(11.8, 12.3)))
            u = r.random()
            if u < 0.25:
                self.errand(self.food[int(r.integers(3))], r.uniform(2700, 3600))
                self.drive(self.home)
            elif u < 0.5:
                self.errand(self.gym, r.uniform(3300, 4800))
                self.drive(self.home)
            if r.random() < 0.6:
                s.idle_until(s.local(d, r.uniform(14.8, 15.2)))
                self.errand(self.school_pu, r.uniform(120, 720))
                self.maybe_gas()
                self.drive(self.home, [self.fastfood] if r.random() < 0.1 else [])
        s.idle_until(s.local(d, r.uniform(17.8, 18.3)))
        u = r.random()
        if u < 0.3:
            self.errand(self.soccer, r.uniform(3600, 5400))
            self.drive(self.home)
        elif u < 0.45:
            self.drive(self.home, [self.fastfood])
        elif u < 0.65:
            self.errand(self.bigbox if r.random() < 0.4 else self.grocery, r.uniform(1500, 3600))
            self.drive(self.home)

    def weekend(self, d: int) -> None:
        s, r = self.sim, self.rng
        wd = self.weekday(d)
        if wd == 5:
            s.idle_until(s.local(d, r.uniform(7.5, 9.5)))
            if d in self.ride_days:
                self.bike_ride(d, dense=True)
            elif r.random() < 0.4:
                self.bike_ride(d)
            s.idle_until(s.local(d, r.uniform(11.0, 13.0)))
            if r.random() < 0.5:
                self.errand(self.bigbox, r.uniform(2700, 6000))
                self.maybe_gas()
                self.drive(self.home)
            if r.random() < 0.3:
                s.idle_until(s.local(d, r.uniform(14.0, 15.0)))
                self.errand(self.soccer, r.uniform(3600, 7200))
                self.drive(self.home)
            if r.random() < 0.3:
                s.idle_until(s.local(d, r.uniform(18.0, 19.0)))
                self.errand(self.food[int(r.integers(3))], r.uniform(3600, 5400))
                self.drive(self.home)
        else:
            s.idle_until(s.local(d, r.uniform(9.0, 9.5)))
            if r.random() < 0.5:
                self.errand(self.church, r.uniform(4200, 5400))
                if r.random() < 0.4:
                    self.errand(self.food[int(r.integers(3))], r.uniform(2700, 4200))
                self.drive(self.home)
            if r.random() < 0.25:
                s.idle_until(s.local(d, r.uniform(15.0, 16.5)))
                self.errand(self.friend, r.uniform(10800, 18000))
                self.drive(self.home)
            elif r.random() < 0.35:
                s.idle_until(s.local(d, r.uniform(15.0, 17.0)))
                self.errand(self.grocery, r.uniform(1500, 2700))
                self.drive(self.home)

    def bike_ride(self, d: int, dense: bool | None = None) -> None:
        """A road ride from home or a trail loop from a trailhead; often with a 1 s tracker."""
        s, r = self.sim, self.rng
        dense = r.random() < 0.7 if dense is None else dense
        v = r.uniform(5.8, 7.3)
        if r.random() < 0.5:
            hr = self.home.road
            far = _near(r, hr, 10000, 22000)
            parts = [Part.of(self.home.access.reversed(), 8.0, env=SUBURB),
                     Part.of(curve(r, hr, far, 0.08, 30, 4), v, env=SUBURB),
                     Part.of(curve(r, far, hr, 0.08, 30, 4), v, env=SUBURB),
                     Part.of(self.home.access, 8.0, env=SUBURB)]
            path, limits, events, envf = compose(parts, lambda deg: 3.5)
            events += [(x, 0.0, r.uniform(3, 30)) for x in spaced(r, path.length, (800, 2500))
                       if r.random() < 0.5]
            s.move(path, BIKE, "bike", limits, 0.6, 1.3, events, 0.1, 60, envf, dense=dense)
            self.arrive(self.home)
        else:
            self.drive(self.trailhead)
            s.idle(r.uniform(120, 600))
            ev = [(x, 0.0, r.uniform(3, 20)) for x in spaced(r, self.trail.length, (2000, 5000))
                  if r.random() < 0.3]
            ev += [(x, 3.5, 0.0) for x, _ in self.trail.turns(40)]
            s.move(self.trail, BIKE, "bike", [(0.0, v * 0.92)], 0.6, 1.3, ev, 0.12, 60, OPEN,
                   dense=dense)
            self.arrive(self.trailhead)
            s.idle(r.uniform(300, 900))
            self.drive(self.home)

    # -- trips
    def fly_trip(self, d: int, nights: int) -> int:
        s, r = self.sim, self.rng
        dtz = int(r.choice([-3, -2, -1, 1, 2]))
        ang = r.uniform(-0.4, 0.4) + (0.0 if dtz > 0 else math.pi)
        center = _polar(900e3 * abs(dtz) + r.uniform(300e3, 900e3), ang)
        tz = s.home_tz + dtz
        away = Away(r, center, tz, "away")
        s.idle_until(s.local(d, r.uniform(6.0, 10.0)))
        self.drive(self.econ)
        self.shuttle(self.airport)
        s.idle(r.uniform(3600, 7200))
        self.fly(self.airport, self.runway, away.airport, away.runway, tz)
        self.taxi(away.hotel.xy, kind="rideshare", wait=(180, 600))
        self.away_days(away, d, nights, business=True)
        self.fly(away.airport, away.runway, self.airport, self.runway, s.home_tz)
        self.shuttle(self.econ)
        self.drive(self.home)
        self.params.setdefault("trips", []).append(dict(kind="flight", day=d, nights=nights,
                                                        tz=tz))
        return d + nights + 1

    def shuttle(self, dest: Place) -> None:
        s, r = self.sim, self.rng
        s.wait(r.uniform(120, 720), SUBURB)
        path = streets(r, s.xy, dest.xy, angle=0.0, bend=3.0)
        ev = [(x, 0.0, r.uniform(30, 60)) for x in spaced(r, path.length, (700, 1500))
              if r.random() < 0.5]
        ev += [(x, car_turn(deg) * 0.8, 0.0) for x, deg in path.turns(40)]
        s.move(path, BUS, "shuttle", [(0.0, 11.0)], 0.9, 1.1, ev, 0.06, 30, SUBURB)
        self.arrive(dest)

    def interstate(self, path: Path, stops: int, exit_to: Place | None) -> None:
        """Drive a long highway path (from where the person is) with stops on the way:
        gas (a few minutes), a rest area, a diner at lunch time; slower through towns."""
        s, r = self.sim, self.rng
        L = path.length
        v0 = r.uniform(31, 34)
        lim = [(0.0, v0)]
        x = r.uniform(30e3, 120e3)
        while x < L - 10e3:
            lim += [(x, r.uniform(24, 28)), (x + r.uniform(3e3, 8e3), v0)]
            x += r.uniform(60e3, 150e3)

        def limits_of(s0, s1):
            v = [vv for a, vv in lim if a <= s0][-1]
            return [(0.0, v)] + [(a - s0, vv) for a, vv in lim if s0 < a < s1]

        s0 = 0.0
        for m in [*sorted(r.uniform(0.15, 0.9, stops) * L), L]:
            if m < L and m - s0 < 5000:
                continue
            seg = path.sub(s0, m)
            parts = [Part(seg, limits_of(s0, m), [], OPEN)]
            if m >= L:
                if exit_to is not None:
                    c = curve(r, seg.end, exit_to.xy, 0.1, 25)
                    parts.append(Part.of(c, 15.0, lights(r, c.length, (400, 900), 0.4, (5, 50)),
                                         SUBURB))
                pc, limits, events, envf = compose(parts, car_turn)
                s.move(pc, CAR, "drive", limits, self.acc, self.dec, events, 0.05, 40, envf)
                if exit_to is not None:
                    self.arrive(exit_to)
                return
            e = seg.end
            tg = _unit(path.point(m + 5) - path.point(m - 5))
            lunch = 11.3 <= s.hour() + (m - s0) / v0 / 3600 <= 13.8
            kind = "diner" if lunch else ("gas" if r.random() < 0.6 else "rest-area")
            stop_xy = e + tg * r.uniform(100, 300) + _perp(tg) * r.choice([-1, 1]) * \
                r.uniform(300, 800)
            stop = make_place(r, kind, stop_xy, kind == "diner", SUBURB)
            parts.append(Part.of(bezier(e, e + tg * 300, stop_xy), 13.0, env=SUBURB))
            pc, limits, events, envf = compose(parts, car_turn)
            s.move(pc, CAR, "drive", limits, self.acc, self.dec, events, 0.05, 40, envf)
            self.arrive(stop)
            s.idle(r.uniform(2100, 3300) if lunch else (r.uniform(200, 480) if kind == "gas"
                                                       else r.uniform(300, 720)))
            back = min(L, m + 600)
            s.move(bezier(s.xy, stop_xy + tg * 300, path.point(back)), CAR, "drive",
                   [(0.0, 15.0)], self.acc, self.dec, (), 0.05, 30, SUBURB)
            s0 = back

    def road_trip(self, d: int, nights: int) -> int:
        s, r = self.sim, self.rng
        s.idle_until(s.local(d, r.uniform(7.0, 9.0)))
        F = self.fw[0]
        ia = min(range(len(F.xs)), key=lambda i: _dist(F.xs[i][1], self.home.road))
        sa, ra = F.xs[ia]
        far_s = F.path.length
        rush = self.rush()
        va = r.uniform(17, 21)
        parts = [self.access(self.home, True), *self.arterial(self.home.road, ra, rush, va),
                 self.ramp_on(F, sa, 1.0, ra), self.main(F, sa, far_s, rush)]
        path, limits, events, envf = compose(parts, car_turn)
        s.move(path, CAR, "drive", limits, self.acc, self.dec, events, 0.06, 25, envf)
        D = r.uniform(300e3, 650e3)
        dirn = _unit(F.path.end - F.path.point(far_s - 1000))
        ang = math.atan2(dirn[1], dirn[0]) + r.normal(0, 0.4)
        hwy = curve(r, s.xy, s.xy + _polar(D, ang), 0.02, 200, 4)
        town = hwy.end + _polar(r.uniform(1500, 4000), r.uniform(0, 6.3))
        motel = make_place(r, "motel", town, True, SUBURB)
        self.interstate(hwy, max(1, int(D // 180e3)), motel)
        dtz = -1.0 if (r.random() < 0.5 and math.cos(ang) < 0) else (
            1.0 if r.random() < 0.5 and math.cos(ang) > 0 else 0.0)
        s.tz = s.home_tz + dtz
        diner = make_place(r, "diner", _near(r, town, 300, 1500), True, SUBURB)
        if s.hour() < 20.5:
            s.idle(r.uniform(1800, 3600))
            self.local_drive(diner)
            s.idle(r.uniform(2700, 4200))
            self.local_drive(motel)
        for k in range(1, nights):
            dd = d + k
            s.idle_until(s.local(dd, r.uniform(7.5, 9.0)))
            th = self.local_place("trailhead-park", _near(r, town, 20000, 50000), False, OPEN)
            self.local_drive(th, v=r.uniform(17, 22), wander=0.12)
            for _ in range(int(r.integers(1, 3))):
                view = make_place(r, "viewpoint", _near(r, s.xy, 1500, 4500), False, OPEN)
                out = curve(r, s.xy, view.xy, 0.15, 20, 4)
                s.move(out, WALK, "hike", [(0.0, r.uniform(1.0, 1.3))], 0.4, 0.8, (), 0.15, 60,
                       OPEN)
                self.arrive(view)
                s.idle(r.uniform(600, 1800))
                s.move(out.reversed(), WALK, "hike", [(0.0, r.uniform(1.0, 1.3))], 0.4, 0.8, (),
                       0.15, 60, OPEN)
                self.arrive(th)
                s.idle(r.uniform(300, 1500))
            self.local_drive(diner, v=r.uniform(17, 22), wander=0.12)
            s.idle(r.uniform(2700, 4200))
            self.local_drive(motel)
        s.idle_until(s.local(d + nights, r.uniform(7.5, 9.0)))
        self.local_drive(make_place(r, "on-ramp", hwy.end, False, OPEN))
        self.interstate(hwy.reversed(), max(1, int(D // 180e3)), None)
        s.tz = s.home_tz
        rush = self.rush()
        ib = min(range(len(F.xs)), key=lambda i: _dist(F.xs[i][1], self.home.road))
        sb, rb = F.xs[ib]
        parts = [self.main(F, far_s, sb, rush), self.ramp_off(F, sb, -1.0, rb),
                 *self.arterial(rb, self.home.road, rush, va), self.access(self.home, False)]
        path, limits, events, envf = compose(parts, car_turn)
        s.move(path, CAR, "drive", limits, self.acc, self.dec, events, 0.06, 25, envf)
        self.arrive(self.home)
        self.params.setdefault("trips", []).append(dict(kind="road-trip", day=d, nights=nights,
                                                        km=round(D / 1000), tz=s.home_tz + dtz))
        return d + nights + 1

    def local_place(self, key, xy, indoor, env) -> Place:
        return make_place(self.rng, key, xy, indoor, env)

    def local_drive(self, dest: Place, v=15.0, wander=0.08) -> None:
        """Off the grid (away from home): a winding road with a few stops."""
        s, r = self.sim, self.rng
        path = curve(r, s.xy, dest.xy, wander, 25, 4)
        ev = lights(r, path.length, (800, 3000), 0.3, (3, 40))
        ev += [(x, car_turn(deg), 0.0) for x, deg in path.turns(40)]
        s.move(path, CAR, "drive", [(0.0, v)], self.acc, self.dec, ev, 0.06, 30, OPEN)
        self.arrive(dest)
# --------------------------------------------------------------------------- generate


def simulate(seed: int, days: int = 45):
    """The world and the true life (no phone yet): (rng, sim, life, lat0, lon0, t_end)."""
    rng = np.random.default_rng([3, seed])
    cls = Transit if world_of(seed) == "asia" else Suburb
    lat0, lon0, tz = cls.center(rng)
    start_day = 19_000 + int(rng.integers(0, 1000))  # days since 1970-01-01
    base = start_day * DAY
    sim = Sim(rng, base, tz)
    life = cls(rng, sim, days, (start_day + 3) % 7)  # 1970-01-01 was a Thursday
    life.run()
    if life.here is not None and sim.place is None:
        life.arrive(life.here)
    t_end = max(sim.t, sim.local(days, 0))
    sim.finish(t_end)
    return rng, sim, life, lat0, lon0, t_end


def generate(seed: int, days: int = 45) -> GroundTruth:
    """One person's location history for `days` days, with ground truth."""
    rng, sim, life, lat0, lon0, t_end = simulate(seed, days)
    world = world_of(seed)
    tz = sim.home_tz
    base = sim.base
    _blackouts(rng, sim, days)
    phone = _phone(rng, days)
    t, src = _log(rng, sim, t_end, phone)
    A = sim.arrays()
    tr = _truth_at(sim, A, t)
    ox, oy, acc, jump = _errors(rng, sim, tr, t, src, phone)
    lat, lon = to_latlon(lat0, lon0, ox, oy)
    slat, slon = to_latlon(lat0, lon0, np.array([s["x"] for s in sim.stays]),
                           np.array([s["y"] for s in sim.stays]))
    stays = [dict(start=s["start"], end=s["end"], place=s["place"], lat=float(la),
                  lon=float(lo)) for s, la, lo in zip(sim.stays, slat, slon, strict=True)]
    params = dict(seed=seed, days=days, world=world, generator="gen3", lat0=lat0, lon0=lon0,
                  tz_home=tz, start_utc=float(base - tz * 3600), end_utc=float(t_end),
                  sources={n: int((src == i).sum()) for i, n in enumerate(
                      ("gps", "wifi", "cell", "net", "stale", "dense", "glitch", "wifi_station"))},
                  **life.params)
    return GroundTruth(
        ts=t.astype(float), lat=np.round(lat, 7), lon=np.round(lon, 7), accuracy=acc,
        mode=tr["mode"].astype(np.int64), waiting=tr["waiting"], jump=jump,
        stay_idx=tr["stay"], true_stays=stays, legs=sim.legs,
        blackouts=[(float(a), float(b)) for a, b in sim.blackouts], params=params)
