"""gen4: one person's life in a mid-size European city, logged by a battery-saving phone.

Independent of the analysis code: it knows only the GroundTruth interface, the MODE codes and
the CSV import path of tests/gen2. See tests/gen4/README.md for the model and its numbers.

Pipeline: a world (real city centre, synthetic streets and a transit network of trams,
buses, U-Bahn/metro, S-Bahn and regional lines through shared hubs) -> a life (a calendar of
work, study, home-office, weekend, excursion, parents, business and holiday days; every trip
routed and simulated second by second with a piecewise constant-acceleration kinematic
model through corners, traffic lights, stops and stations) -> a phone (iOS-like or
Android/Timeline-like logger: distance filter, minimum interval, auto-pause when still,
wake-up on significant movement or activity, Wi-Fi/cell fixes indoors, nothing in tunnels or
in airplane mode, battery saver, killed app, phone-off days) -> noise (correlated GNSS error,
urban canyon multipath, Wi-Fi offsets per place, cell fixes, injected wrong fixes).

Only numpy and the standard library.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from tests.gen2.generator import (  # noqa: F401  (re-exported interface)
    BIKE,
    BUS,
    CAR,
    MODE_NAMES,
    PLANE,
    STATIONARY,
    TRAIN,
    WALK,
    GroundTruth,
    import_into,
    point_ids,
    write_csv,
)

R_E = 6_371_008.8
INF = float("inf")

# availability of a position fix at a true position (per second of a leg)
AV_OK, AV_NONE, AV_RARE, AV_TRAIN, AV_INDOOR = 0, 1, 2, 3, 4
# fix sources
SRC_GNSS, SRC_WIFI, SRC_CELL, SRC_COARSE, SRC_RARE = 0, 1, 2, 3, 4

# --------------------------------------------------------------------------- world data

# name: centre, zone, country (for public holidays), network sizes and spacings (m),
# cycling culture, airport and how one gets there, long-distance destinations (main stations).
CITIES: dict[str, dict] = {
    "Munich": dict(lat=48.1374, lon=11.5755, zone="Europe/Berlin", country="DE-BY",
                   tram=5, tram_sp=(380, 600), bus=8, metro=3, metro_kind="ubahn",
                   metro_sp=(750, 1200), sbahn=4, s_tunnel=2600, regional=2, bike=0.30,
                   autobahn=True, motorway=(33.3, 38.9), airport=(48.3538, 11.7861),
                   airport_by="sbahn",
                   far=[("Nuremberg", 49.4453, 11.0829, True), ("Stuttgart", 48.7840, 9.1829, False),
                        ("Frankfurt", 50.1071, 8.6638, True), ("Berlin", 52.5251, 13.3694, True)]),
    "Zurich": dict(lat=47.3769, lon=8.5417, zone="Europe/Zurich", country="CH-ZH",
                   tram=7, tram_sp=(300, 480), bus=7, metro=0, metro_kind="", metro_sp=(0, 0),
                   sbahn=5, s_tunnel=1200, regional=2, bike=0.15, autobahn=False,
                   motorway=(30.5, 33.3), airport=(47.4502, 8.5618), airport_by="sbahn",
                   far=[("Bern", 46.9490, 7.4391, False), ("Basel", 47.5476, 7.5897, False),
                        ("Geneva", 46.2102, 6.1424, False), ("Lugano", 46.0055, 8.9470, True)]),
    "Vienna": dict(lat=48.2082, lon=16.3738, zone="Europe/Vienna", country="AT",
                   tram=6, tram_sp=(350, 550), bus=7, metro=3, metro_kind="ubahn",
                   metro_sp=(600, 1000), sbahn=3, s_tunnel=1000, regional=2, bike=0.10,
                   autobahn=False, motorway=(33.3, 36.1), airport=(48.1103, 16.5697),
                   airport_by="sbahn",
                   far=[("Salzburg", 47.8130, 13.0459, True), ("Graz", 47.0726, 15.4163, False),
                        ("Linz", 48.2903, 14.2914, True), ("Innsbruck", 47.2632, 11.4009, True)]),
    "Lyon": dict(lat=45.7640, lon=4.8357, zone="Europe/Paris", country="FR",
                 tram=4, tram_sp=(450, 650), bus=8, metro=2, metro_kind="metro",
                 metro_sp=(550, 900), sbahn=0, s_tunnel=0, regional=3, bike=0.10,
                 autobahn=False, motorway=(33.3, 36.1), airport=(45.7256, 5.0811),
                 airport_by="regional",
                 far=[("Paris", 48.8443, 2.3743, True), ("Marseille", 43.3026, 5.3806, True),
                      ("Montpellier", 43.6047, 3.8807, True), ("Dijon", 47.3233, 5.0274, False)]),
    "Copenhagen": dict(lat=55.6761, lon=12.5683, zone="Europe/Copenhagen", country="DK",
                       tram=0, tram_sp=(0, 0), bus=9, metro=2, metro_kind="metro",
                       metro_sp=(600, 1100), sbahn=4, s_tunnel=800, regional=2, bike=0.55,
                       autobahn=False, motorway=(30.5, 36.1), airport=(55.6180, 12.6508),
                       airport_by="metro",
                       far=[("Aarhus", 56.1503, 10.2045, False), ("Odense", 55.4016, 10.3869, False),
                            ("Hamburg", 53.5530, 10.0069, False), ("Aalborg", 57.0430, 9.9170, False)]),
    "Utrecht": dict(lat=52.0907, lon=5.1214, zone="Europe/Amsterdam", country="NL",
                    tram=1, tram_sp=(600, 900), bus=9, metro=0, metro_kind="", metro_sp=(0, 0),
                    sbahn=2, s_tunnel=0, regional=3, bike=0.55, autobahn=False,
                    motorway=(27.8, 33.3), airport=(52.3105, 4.7683), airport_by="regional",
                    far=[("Groningen", 53.2107, 6.5642, False), ("Maastricht", 50.8497, 5.7058, False),
                         ("Brussels", 50.8354, 4.3363, True), ("Cologne", 50.9430, 6.9589, True)]),
    "Leipzig": dict(lat=51.3397, lon=12.3731, zone="Europe/Berlin", country="DE-SN",
                    tram=7, tram_sp=(350, 550), bus=6, metro=0, metro_kind="", metro_sp=(0, 0),
                    sbahn=4, s_tunnel=1300, regional=2, bike=0.30, autobahn=True,
                    motorway=(33.3, 38.9), airport=(51.4239, 12.2364), airport_by="sbahn",
                    far=[("Berlin", 52.5251, 13.3694, True), ("Dresden", 51.0405, 13.7320, False),
                         ("Erfurt", 50.9725, 11.0380, True), ("Hamburg", 53.5530, 10.0069, False)]),
}

# seeds 1..7 visit every city once, then again with other people
CITY_ORDER = ["Munich", "Utrecht", "Vienna", "Copenhagen", "Lyon", "Zurich", "Leipzig"]

# holiday destinations in another time zone: name, centre, zone, coastal, has metro
ABROAD = [
    ("Lisbon", 38.7223, -9.1393, "Europe/Lisbon", True, True),
    ("Porto", 41.1579, -8.6291, "Europe/Lisbon", True, True),
    ("Santa Cruz de Tenerife", 28.4636, -16.2518, "Atlantic/Canary", True, False),
    ("London", 51.5074, -0.1278, "Europe/London", False, True),
    ("Dublin", 53.3498, -6.2603, "Europe/Dublin", True, False),
    ("Athens", 37.9838, 23.7275, "Europe/Athens", True, True),
    ("Helsinki", 60.1699, 24.9384, "Europe/Helsinki", True, True),
    ("Istanbul", 41.0082, 28.9784, "Europe/Istanbul", True, True),
]

# zone: (standard UTC offset h, follows EU summer time)
ZONES = {
    "Europe/Berlin": (1, True), "Europe/Zurich": (1, True), "Europe/Vienna": (1, True),
    "Europe/Paris": (1, True), "Europe/Copenhagen": (1, True), "Europe/Amsterdam": (1, True),
    "Europe/Lisbon": (0, True), "Atlantic/Canary": (0, True), "Europe/London": (0, True),
    "Europe/Dublin": (0, True), "Europe/Athens": (2, True), "Europe/Helsinki": (2, True),
    "Europe/Istanbul": (3, False),
}

# Vehicle kinds: mode, cruise range (m/s) per zone, cap (m/s), acceleration, braking (m/s²).
# Street trams 20-35 km/h cruise, 50 km/h cap; buses 30-47; U-Bahn up to 80; S-Bahn up to
# 140; regional 120-160; intercity 200-250 on high-speed sections.
KIND_MODE = {"walk": WALK, "stroll": WALK, "hike": WALK, "bike": BIKE, "ebike": BIKE,
             "car": CAR, "taxi": CAR, "bus": BUS, "apron_bus": BUS, "tram": TRAIN,
             "ubahn": TRAIN, "metro": TRAIN, "sbahn": TRAIN, "regional": TRAIN,
             "intercity": TRAIN, "plane": PLANE}
VCAP = {WALK: 2.2, BIKE: 7.2, CAR: 50.0, BUS: 16.7, TRAIN: 69.5, PLANE: 250.0}

# --------------------------------------------------------------------------- time


def _last_sunday_1utc(year: int, month: int) -> float:
    d = date(year, month, 31)
    d -= timedelta(days=(d.weekday() - 6) % 7)
    return datetime(d.year, d.month, d.day, 1, tzinfo=UTC).timestamp()


_DST_CACHE: dict[int, tuple[float, float]] = {}


def utc_offset(zone: str, t_utc: float) -> int:
    """UTC offset in seconds; EU rule: summer time from 01:00 UTC on the last Sunday of
    March to 01:00 UTC on the last Sunday of October."""
    std, dst = ZONES[zone]
    off = std * 3600
    if dst:
        y = datetime.fromtimestamp(t_utc, UTC).year
        if y not in _DST_CACHE:
            _DST_CACHE[y] = (_last_sunday_1utc(y, 3), _last_sunday_1utc(y, 10))
        a, b = _DST_CACHE[y]
        if a <= t_utc < b:
            off += 3600
    return off


def local_to_utc(zone: str, naive_epoch: float) -> float:
    off = utc_offset(zone, naive_epoch - ZONES[zone][0] * 3600)
    return naive_epoch - off


def _easter(y: int) -> date:
    a = y % 19
    b, c = divmod(y, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(y, month, day)


def public_holidays(country: str, y: int) -> set[date]:
    e = _easter(y)

    def d(m: int, dd: int) -> date:
        return date(y, m, dd)

    def ed(n: int) -> date:
        return e + timedelta(days=n)

    s = {d(1, 1), d(12, 25)}
    if country == "DE-BY":
        s |= {d(1, 6), ed(-2), ed(1), d(5, 1), ed(39), ed(50), ed(60), d(8, 15), d(10, 3),
              d(11, 1), d(12, 26)}
    elif country == "DE-SN":
        bt = d(11, 22)
        while bt.weekday() != 2:
            bt -= timedelta(days=1)
        s |= {ed(-2), ed(1), d(5, 1), ed(39), ed(50), d(10, 3), d(10, 31), bt, d(12, 26)}
    elif country == "CH-ZH":
        s |= {d(1, 2), ed(-2), ed(1), d(5, 1), ed(39), ed(50), d(8, 1), d(12, 26)}
    elif country == "AT":
        s |= {d(1, 6), ed(1), d(5, 1), ed(39), ed(50), ed(60), d(8, 15), d(10, 26), d(11, 1),
              d(12, 8), d(12, 26)}
    elif country == "FR":
        s |= {ed(1), d(5, 1), d(5, 8), ed(39), ed(50), d(7, 14), d(8, 15), d(11, 1), d(11, 11)}
    elif country == "DK":
        s |= {ed(-3), ed(-2), ed(1), ed(39), ed(50), d(6, 5), d(12, 24), d(12, 26)}
    elif country == "NL":
        s |= {ed(1), d(4, 27), ed(39), ed(50), d(12, 26)}
    return s


# --------------------------------------------------------------------------- geometry


def hav(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * R_E * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _polar(r: float, th: float) -> np.ndarray:
    return np.array([r * math.cos(th), r * math.sin(th)])


@dataclass
class Region:
    name: str
    lat: float
    lon: float
    zone: str
    canyon_r: float = 1200.0  # old town: urban canyon
    urban_r: float = 6000.0
    sig_canyon: float = 8.0

    def __post_init__(self) -> None:
        self.k = math.cos(math.radians(self.lat))

    def ll(self, x, y):
        lat = self.lat + np.degrees(np.asarray(y, float) / R_E)
        lon = self.lon + np.degrees(np.asarray(x, float) / (R_E * self.k))
        return lat, lon

    def xy(self, lat, lon):
        y = np.radians(np.asarray(lat, float) - self.lat) * R_E
        x = np.radians(np.asarray(lon, float) - self.lon) * R_E * self.k
        return x, y

    def sig_at(self, lat, lon) -> np.ndarray:
        """Per-axis GNSS error sd (m) in the open street at these positions."""
        r = hav(self.lat, self.lon, lat, lon)
        return np.where(r < self.canyon_r, self.sig_canyon, np.where(r < self.urban_r, 4.5, 3.0))


@dataclass
class Place:
    name: str
    kind: str
    region: Region
    x: float
    y: float
    indoor: bool = True
    wifi: tuple[float, float] = (0.0, 0.0)
    phantom: tuple[float, float] | None = None
    sig: float = 20.0
    lat: float = 0.0
    lon: float = 0.0

    def __post_init__(self) -> None:
        la, lo = self.region.ll(self.x, self.y)
        self.lat, self.lon = float(la), float(lo)

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x, self.y])


# street-like polylines: segment length range (m), max deviation from the bearing (deg)
STYLE = {"walk": (40, 170, 40), "stroll": (30, 120, 60), "hike": (60, 250, 45),
         "bike": (60, 260, 35), "car": (90, 420, 35), "bus": (120, 420, 30),
         "tram": (150, 450, 25), "metro": (300, 900, 12), "rail": (500, 1500, 8),
         "motorway": (2000, 6000, 10), "taxiway": (150, 600, 30)}


def street_xy(rng, a, b, style: str) -> np.ndarray:
    lo, hi, ang = STYLE[style]
    ang = math.radians(ang)
    p = np.array(a, float)
    b = np.array(b, float)
    pts = [p.copy()]
    for _ in range(5000):
        d = b - p
        dist = math.hypot(d[0], d[1])
        if dist <= hi:
            break
        brg = math.atan2(d[1], d[0]) + rng.uniform(-ang, ang)
        L = rng.uniform(lo, hi)
        p = p + L * np.array([math.cos(brg), math.sin(brg)])
        pts.append(p.copy())
    pts.append(b)
    return _dedupe(np.array(pts))


def _dedupe(xy: np.ndarray) -> np.ndarray:
    if len(xy) < 2:
        return xy
    d = np.hypot(*np.diff(xy, axis=0).T)
    keep = np.concatenate([[True], d > 0.5])
    out = xy[keep]
    if len(out) < 2:
        out = np.vstack([xy[0], xy[0] + [1.0, 0.0]])
    return out


def _cum_xy(xy: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])


def _sub_xy(xy: np.ndarray, cum: np.ndarray, s0: float, s1: float) -> np.ndarray:
    lo, hi = min(s0, s1), max(s0, s1)
    inner = (cum > lo) & (cum < hi)
    pa = np.array([np.interp(lo, cum, xy[:, 0]), np.interp(lo, cum, xy[:, 1])])
    pb = np.array([np.interp(hi, cum, xy[:, 0]), np.interp(hi, cum, xy[:, 1])])
    out = np.vstack([pa, xy[inner], pb])
    if s1 < s0:
        out = out[::-1]
    return _dedupe(out)


def gc_path(rng, lat1, lon1, lat2, lon2, step_m: float, wiggle: float):
    """Great-circle path with smooth lateral wiggles (fraction of length), endpoints fixed."""
    def unit(la, lo):
        la, lo = math.radians(la), math.radians(lo)
        return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])
    A, B = unit(lat1, lon1), unit(lat2, lon2)
    om = math.acos(max(-1.0, min(1.0, float(A @ B))))
    D = om * R_E
    n = max(3, int(D / step_m) + 1)
    f = np.linspace(0, 1, n)
    if om < 1e-9:
        P = np.repeat(A[None], n, 0)
    else:
        P = (np.sin((1 - f) * om) / math.sin(om))[:, None] * A + (np.sin(f * om) / math.sin(om))[:, None] * B
    N = np.cross(A, B)
    N = N / max(np.linalg.norm(N), 1e-12)
    off = np.zeros(n)
    for k in range(1, 5):
        off += rng.normal(0, wiggle * D / k) * np.sin(k * math.pi * f)
    Q = P + (off / R_E)[:, None] * N
    Q /= np.linalg.norm(Q, axis=1)[:, None]
    return np.degrees(np.arcsin(Q[:, 2])), np.degrees(np.arctan2(Q[:, 1], Q[:, 0]))


# --------------------------------------------------------------------------- kinematics


def _profile(seg_len, node_vmax, node_dwell, seg_v, seg_a, seg_b):
    """Piecewise constant-acceleration motion through nodes (stops, lights, corners).
    Returns piece start times T, positions S, speeds V, accelerations A and the total time."""
    n = len(node_vmax)
    vn = np.array(node_vmax, float)
    vn[1:] = np.minimum(vn[1:], seg_v)
    vn[:-1] = np.minimum(vn[:-1], seg_v)
    vn[0] = vn[-1] = 0.0
    vn[np.asarray(node_dwell) > 0] = 0.0
    vn = vn.tolist()
    seg_len = np.asarray(seg_len, float).tolist()
    seg_v, seg_a, seg_b = list(seg_v), list(seg_a), list(seg_b)
    node_dwell = list(node_dwell)
    for i in range(n - 1):
        lim = math.sqrt(vn[i] ** 2 + 2 * seg_a[i] * seg_len[i])
        if vn[i + 1] > lim:
            vn[i + 1] = lim
    for i in range(n - 2, -1, -1):
        lim = math.sqrt(vn[i + 1] ** 2 + 2 * seg_b[i] * seg_len[i])
        if vn[i] > lim:
            vn[i] = lim
    T, S, V, A = [], [], [], []
    t = s = 0.0
    for i in range(n - 1):
        if node_dwell[i] > 0:
            T.append(t), S.append(s), V.append(0.0), A.append(0.0)
            t += node_dwell[i]
        L = seg_len[i]
        if L <= 1e-6:
            continue
        v0, v1, vc, a, b = vn[i], vn[i + 1], seg_v[i], seg_a[i], seg_b[i]
        vp = min(vc, math.sqrt((2 * a * b * L + b * v0 * v0 + a * v1 * v1) / (a + b)))
        vp = max(vp, v0, v1, 0.05)
        d1 = (vp * vp - v0 * v0) / (2 * a)
        d3 = (vp * vp - v1 * v1) / (2 * b)
        d2 = max(0.0, L - d1 - d3)
        t1, t3, t2 = (vp - v0) / a, (vp - v1) / b, d2 / vp
        if t1 > 0:
            T.append(t), S.append(s), V.append(v0), A.append(a)
        if t2 > 0:
            T.append(t + t1), S.append(s + d1), V.append(vp), A.append(0.0)
        if t3 > 0:
            T.append(t + t1 + t2), S.append(s + d1 + d2), V.append(vp), A.append(-b)
        t += t1 + t2 + t3
        s += L
    T.append(t), S.append(s), V.append(0.0), A.append(0.0)
    return np.array(T), np.array(S), np.array(V), np.array(A), t


def _sample(T, S, V, A, total: float):
    n = max(1, int(math.ceil(total - 1e-9)))
    tt = np.arange(n, dtype=float)
    k = np.searchsorted(T, tt, side="right") - 1
    dt = tt - T[k]
    s = S[k] + V[k] * dt + 0.5 * A[k] * dt * dt
    s = np.maximum.accumulate(np.clip(s, 0, S[-1]))
    v = np.maximum(V[k] + A[k] * dt, 0.0)
    return s, v


@dataclass
class Leg:
    kind: str
    mode: int
    t0: int
    lat: np.ndarray
    lon: np.ndarray
    v: np.ndarray
    s: np.ndarray
    wait: np.ndarray
    sig: np.ndarray
    av: np.ndarray
    dist: float
    region: str = ""

    @property
    def n(self) -> int:
        return len(self.lat)

    @property
    def t1(self) -> int:
        return self.t0 + self.n


@dataclass
class Stay:
    start: int
    end: int
    place: Place


# --------------------------------------------------------------------------- transit network


@dataclass
class Line:
    name: str
    kind: str
    xy: np.ndarray
    cum: np.ndarray
    stop_s: np.ndarray
    stop_xy: np.ndarray
    stop_under: np.ndarray
    under_r: float
    headway: tuple[float, float]
    dwell: tuple[float, float]
    skip_p: float = 0.0

    @property
    def mode(self) -> int:
        return KIND_MODE[self.kind]


V_AVG = {"tram": 5.0, "bus": 5.0, "ubahn": 9.5, "metro": 9.0, "sbahn": 13.0, "regional": 19.0}
HEADWAY = {"tram": (300, 600), "bus": (420, 900), "ubahn": (180, 300), "metro": (120, 300),
           "sbahn": (600, 1200), "regional": (1800, 3600)}
DWELL = {"tram": (12, 30), "bus": (10, 40), "ubahn": (20, 40), "metro": (20, 35),
         "sbahn": (25, 60), "regional": (40, 120)}
LINE_STYLE = {"tram": "tram", "bus": "bus", "ubahn": "metro", "metro": "metro", "sbahn": "rail",
              "regional": "rail"}


class World:
    def __init__(self, rng: np.random.Generator, city: str) -> None:
        self.rng = rng
        self.city = city
        C = self.C = CITIES[city]
        self.home = Region(city, C["lat"], C["lon"], C["zone"], canyon_r=rng.uniform(900, 1500),
                           urban_r=rng.uniform(5000, 7000), sig_canyon=rng.uniform(6, 10))
        th = rng.uniform(0, 2 * math.pi)
        self.centre = rng.uniform(-150, 150, 2)
        self.hbf = _polar(rng.uniform(400, 1100), rng.uniform(0, 2 * math.pi))
        self.subs = [_polar(rng.uniform(1600, 4300), th + 2 * math.pi * i / 6 + rng.uniform(-0.3, 0.3))
                     for i in range(6)]
        self.lines: list[Line] = []
        self._street_cache: dict = {}
        self._route_cache: dict = {}
        for i in range(C["tram"]):
            a = th + math.pi * i / max(1, C["tram"]) + rng.uniform(-0.2, 0.2)
            e1 = _polar(rng.uniform(3500, 7000), a)
            e2 = _polar(rng.uniform(3500, 7000), a + math.pi + rng.uniform(-0.6, 0.6))
            way = [e1, *self._subs_near(e1), self.hbf if i % 2 else self.centre, *self._subs_near(e2), e2]
            self._mk_line(f"tram{i + 1}", "tram", way, C["tram_sp"], 0.0)
        for i in range(C["bus"]):
            a = rng.uniform(0, 2 * math.pi)
            e1 = _polar(rng.uniform(1500, 8000), a)
            e2 = _polar(rng.uniform(1500, 8000), a + rng.uniform(1.0, 3.5))
            mid = (e1 + e2) / 2
            hub = min([self.centre, self.hbf, *self.subs], key=lambda h: np.hypot(*(h - mid)))
            self._mk_line(f"bus{i + 1}", "bus", [e1, hub, e2], (300, 600), 0.0, skip_p=0.2)
        for i in range(C["metro"]):
            a = th + 0.4 + math.pi * i / max(1, C["metro"]) + rng.uniform(-0.2, 0.2)
            e1 = _polar(rng.uniform(5000, 9000), a)
            e2 = _polar(rng.uniform(5000, 9000), a + math.pi + rng.uniform(-0.5, 0.5))
            way = [e1, *self._subs_near(e1), self.hbf, self.centre, *self._subs_near(e2), e2]
            ur = rng.uniform(4500, 9500)
            self._mk_line(f"U{i + 1}", C["metro_kind"], way, C["metro_sp"], ur)
        for i in range(C["sbahn"]):
            a = th + 1.1 + math.pi * i / max(1, C["sbahn"]) + rng.uniform(-0.25, 0.25)
            e1 = _polar(rng.uniform(18000, 40000), a)
            e2 = _polar(rng.uniform(18000, 40000), a + math.pi + rng.uniform(-0.5, 0.5))
            m1 = _polar(rng.uniform(5000, 8000), a + rng.uniform(-0.15, 0.15))
            m2 = _polar(rng.uniform(5000, 8000), a + math.pi + rng.uniform(-0.15, 0.15))
            self._mk_line(f"S{i + 1}", "sbahn", [e1, m1, self.hbf, self.centre, m2, e2],
                          "sbahn", C["s_tunnel"])
        for i in range(max(1, C["regional"])):
            a = rng.uniform(0, 2 * math.pi)
            e1 = _polar(rng.uniform(40000, 85000), a)
            self._mk_line(f"RE{i + 1}", "regional", [self.hbf, _polar(6000, a + 0.1), e1],
                          "regional", 0.0)
        # airport
        ax, ay = self.home.xy(C["airport"][0], C["airport"][1])
        self.airport_xy = np.array([float(ax), float(ay)])
        if C["airport_by"] in ("sbahn", "regional", "metro"):
            kind = C["airport_by"]
            sp = {"sbahn": "sbahn", "regional": "regional", "metro": C["metro_sp"]}[kind]
            mid = self.airport_xy * 0.5 + rng.normal(0, 800, 2)
            self._mk_line(f"{kind}_airport", kind, [self.hbf, mid, self.airport_xy + [150, 80]], sp,
                          0.0 if kind != "metro" else 3000.0)
        self._build_graph()

    # -- construction
    def _subs_near(self, e):
        a = math.atan2(e[1], e[0])
        out = []
        for h in self.subs:
            da = abs((math.atan2(h[1], h[0]) - a + math.pi) % (2 * math.pi) - math.pi)
            if da < 0.6 and np.hypot(*h) < np.hypot(*e) - 800:
                out.append(h)
        return out[:1]

    def _spacing(self, sp, xy):
        if sp == "sbahn":
            r = math.hypot(*xy)
            return (800, 1500) if r < 4500 else (2000, 4500)
        if sp == "regional":
            r = math.hypot(*xy)
            return (2500, 4000) if r < 7000 else (5000, 14000)
        return sp

    def _mk_line(self, name, kind, way, sp, under_r, skip_p=0.0):
        rng = self.rng
        off = {"tram": (10, 60), "bus": (10, 60), "ubahn": (40, 120), "metro": (40, 120),
               "sbahn": (60, 150), "regional": (80, 200)}[kind]
        pts = [np.array(w, float) for w in way]
        pts = [pts[0]] + [p + _polar(rng.uniform(*off), rng.uniform(0, 6.3)) for p in pts[1:-1]] + [pts[-1]]
        parts, joints = [], [0.0]
        total = 0.0
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            seg = street_xy(rng, a, b, LINE_STYLE[kind])
            if parts:
                seg = seg[1:]
            parts.append(seg)
        xy = _dedupe(np.vstack(parts))
        cum = _cum_xy(xy)
        # arc position of the joints (nearest vertex to each waypoint)
        for p in pts[1:]:
            k = int(np.argmin(np.hypot(*(xy - p).T)))
            joints.append(float(cum[k]))
        joints = sorted(set(joints))
        total = float(cum[-1])
        if joints[-1] < total:
            joints[-1] = total
        stops = [0.0]
        for A, B in zip(joints[:-1], joints[1:], strict=True):
            pos = A
            while True:
                xy_pos = [np.interp(pos, cum, xy[:, 0]), np.interp(pos, cum, xy[:, 1])]
                lo, hi = self._spacing(sp, xy_pos)
                gap = rng.uniform(lo, hi)
                if B - pos - gap < 0.6 * lo:
                    break
                pos += gap
                stops.append(pos)
            if B - stops[-1] > 100:
                stops.append(B)
        stop_s = np.array(stops)
        sxy = np.column_stack([np.interp(stop_s, cum, xy[:, 0]), np.interp(stop_s, cum, xy[:, 1])])
        under = np.hypot(*sxy.T) < under_r if under_r else np.zeros(len(stop_s), bool)
        self.lines.append(Line(name, kind, xy, cum, stop_s, sxy, under, under_r, HEADWAY[kind],
                               DWELL[kind], skip_p))

    def ensure_coverage(self, places: list[Place], max_d: float = 700.0) -> None:
        changed = False
        for p in places:
            allxy = np.vstack([ln.stop_xy for ln in self.lines])
            if np.min(np.hypot(*(allxy - p.xy).T)) <= max_d:
                continue
            hubs = [self.centre, self.hbf, *self.subs]
            hub = min(hubs, key=lambda h: np.hypot(*(h - p.xy)))
            start = p.xy + _polar(self.rng.uniform(100, 300), self.rng.uniform(0, 6.3))
            self._mk_line(f"bus{len(self.lines)}", "bus", [start, hub], (300, 550), 0.0, skip_p=0.15)
            changed = True
        if changed:
            self._build_graph()

    def _build_graph(self) -> None:
        self.stop_xy = np.vstack([ln.stop_xy for ln in self.lines])
        self.stop_line = np.concatenate([np.full(len(ln.stop_s), i) for i, ln in enumerate(self.lines)])
        self.stop_k = np.concatenate([np.arange(len(ln.stop_s)) for ln in self.lines])
        N = len(self.stop_xy)
        adj: list[list[tuple[int, float]]] = [[] for _ in range(N)]
        off = 0
        for ln in self.lines:
            dw = sum(ln.dwell) / 2
            for k in range(len(ln.stop_s) - 1):
                c = (ln.stop_s[k + 1] - ln.stop_s[k]) / V_AVG[ln.kind] + dw
                adj[off + k].append((off + k + 1, c))
                adj[off + k + 1].append((off + k, c))
            off += len(ln.stop_s)
        D = np.hypot(self.stop_xy[:, None, 0] - self.stop_xy[None, :, 0],
                     self.stop_xy[:, None, 1] - self.stop_xy[None, :, 1])
        ii, jj = np.nonzero((D < 300) & (self.stop_line[:, None] != self.stop_line[None, :]))
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            hw = sum(self.lines[self.stop_line[j]].headway) / 2
            adj[i].append((j, D[i, j] / 1.2 + 60 + hw / 2 + 150))
        self.adj = adj
        self._route_cache.clear()

    # -- queries
    def street(self, a, b, style: str, key=None) -> np.ndarray:
        """Street path; repeated trips between the same two places reuse one of two routes."""
        if key is None:
            return street_xy(self.rng, a, b, style)
        k = (key, style)
        if k not in self._street_cache:
            self._street_cache[k] = [street_xy(self.rng, a, b, style) for _ in range(2)]
        r = self._street_cache[k]
        out = (r[0] if self.rng.random() < 0.8 else r[1]).copy()
        out[0], out[-1] = a, b  # same streets, this time's exact door / parking spot
        return _dedupe(out)

    def route(self, a, b, key=None, reach_a=1200.0, reach_b=1200.0):
        """Fastest ride sequence [(line, k0, k1), ...] by a Dijkstra over stops; [] means
        walking is faster; None means no stop in reach."""
        if key is not None and key in self._route_cache:
            return self._route_cache[key]
        da = np.hypot(*(self.stop_xy - a).T)
        db = np.hypot(*(self.stop_xy - b).T)
        walk_direct = math.hypot(*(np.asarray(a) - b)) * 1.2 / 1.3
        N = len(da)
        dist = np.full(N, INF)
        prev = np.full(N, -1)
        heap = []
        for i in np.flatnonzero(da < reach_a):
            c = da[i] * 1.2 / 1.3 + sum(self.lines[self.stop_line[i]].headway) / 4
            dist[i] = c
            heap.append((c, int(i)))
        heapq.heapify(heap)
        end_cost = np.where(db < reach_b, db * 1.2 / 1.3, INF)
        best, best_i = INF, -1
        while heap:
            c, i = heapq.heappop(heap)
            if c > dist[i] or c >= best:
                continue
            if c + end_cost[i] < best:
                best, best_i = c + end_cost[i], i
            for j, w in self.adj[i]:
                cj = c + w
                if cj < dist[j]:
                    dist[j] = cj
                    prev[j] = i
                    heapq.heappush(heap, (cj, j))
        if best_i < 0:
            out = None
        elif walk_direct <= best:
            out = []
        else:
            seq = []
            i = best_i
            while i >= 0:
                seq.append(i)
                i = prev[i]
            seq.reverse()
            out = []
            run = [seq[0]]
            for i in seq[1:]:
                if self.stop_line[i] == self.stop_line[run[-1]]:
                    run.append(i)
                else:
                    out.append(run)
                    run = [i]
            out.append(run)
            out = [(int(self.stop_line[r[0]]), int(self.stop_k[r[0]]), int(self.stop_k[r[-1]]))
                   for r in out if len(r) > 1]
            if not out:
                out = []
        if key is not None:
            self._route_cache[key] = out
        return out


# --------------------------------------------------------------------------- the phone


def _runlen(b: np.ndarray, carry: int) -> np.ndarray:
    n = len(b)
    idx = np.arange(n)
    last_false = np.maximum.accumulate(np.where(~b, idx, -1))
    run = idx - last_false
    return np.where(last_false < 0, run + carry, run)


def phone_profile(rng) -> dict:
    kind = rng.choice(["ios_standard", "ios_saver", "android_timeline", "android_logger"],
                      p=[0.3, 0.22, 0.33, 0.15])
    if kind == "ios_standard":  # standard updates, distance filter, auto-pause, significant change
        p = dict(platform="ios", min_int=rng.uniform(4, 9), jitter=0.2, D=rng.uniform(10, 25),
                 pause_after=rng.uniform(180, 480), wake="distance", wake_dist=rng.uniform(200, 500),
                 wake_delay=(0, 90), stay_int=(20, 90), still_int=rng.uniform(7200, 18000), visits=True,
                 coarse_first=0.5, p_wifi=0.8)
    elif kind == "ios_saver":  # timeline-style on iOS: sparse, large filter
        p = dict(platform="ios", min_int=rng.uniform(15, 40), jitter=0.4, D=rng.uniform(30, 50),
                 pause_after=rng.uniform(120, 300), wake="distance", wake_dist=rng.uniform(400, 800),
                 wake_delay=(30, 240), stay_int=(60, 240), still_int=rng.uniform(1200, 3600),
                 visits=True, coarse_first=0.6, p_wifi=0.85)
    elif kind == "android_timeline":  # fused provider + activity recognition
        p = dict(platform="android", min_int=rng.uniform(10, 30), jitter=0.5, D=0.0,
                 pause_after=rng.uniform(90, 240), wake="activity", wake_delay=(20, 90),
                 stay_int=(30, 120), still_int=rng.uniform(600, 1800), visits=False,
                 coarse_first=0.35, p_wifi=0.7)
    else:  # a GPS logger app set to an interval and a distance
        mi = rng.uniform(30, 60)
        p = dict(platform="android", min_int=mi, jitter=0.1, D=rng.uniform(25, 50),
                 pause_after=60.0, wake="distance", wake_dist=rng.uniform(50, 100),
                 wake_delay=(0, mi), stay_int=(mi, mi * 1.2), still_int=rng.uniform(900, 3600),
                 visits=False, coarse_first=0.1, p_wifi=0.4)
    p["kind"] = str(kind)
    p["jump_rate"] = float(rng.uniform(1 / 1500, 1 / 400))
    p["tau"] = float(rng.uniform(30, 90))
    p["window_seat"] = float(rng.uniform(0, 0.4))
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in p.items()}


class Logger:
    """Decides when the phone records a fix. State carries across pieces of the timeline."""

    def __init__(self, rng, prof: dict, saver: list[tuple[int, int]], t_start: int, home: Place):
        self.rng = rng
        self.P = prof
        self.saver = saver
        self.fixes: list[tuple[int, int, int, int]] = []  # t, src, piece, idx
        self.paused = True
        self.pause_ll = (home.lat, home.lon)
        self.pause_t = t_start
        self.wake_at: int | None = None
        self.wake_d = self._draw_wake()
        self.t_last = t_start - 100000
        self.c_last = -1e9
        self.ival = prof["min_int"]
        self.still_run = 10 ** 6
        self.move_run = 0

    def _draw_wake(self) -> float:
        P = self.P
        if P["wake"] == "activity":
            return self.rng.uniform(*P["wake_delay"])
        return self.rng.uniform(*P["wake_delay"])

    def _in_saver(self, t: int) -> bool:
        for a, b in self.saver:
            if a <= t < b:
                return True
        return False

    def _next_ival(self, t: int) -> float:
        if self._in_saver(t):
            return self.rng.uniform(120, 300)
        P = self.P
        return max(1.0, P["min_int"] * (1 + P["jitter"] * self.rng.uniform(-1, 1)))

    def _emit(self, t: int, src: int, pid: int, idx: int) -> None:
        self.fixes.append((int(t), src, pid, idx))
        self.t_last = int(t)
        self.ival = self._next_ival(int(t))

    def _pause(self, t: int, lat: float, lon: float) -> None:
        self.paused = True
        self.pause_ll = (lat, lon)
        self.pause_t = int(t)
        self.wake_at = None
        self.wake_d = self._draw_wake()

    def leg(self, pid: int, L: Leg) -> None:
        P, rng = self.P, self.rng
        n = L.n
        c = L.s
        still = L.wait | ((L.v < 0.05) & (L.mode == WALK))
        moving = ~still & ((L.v > 0.3) | (L.mode != WALK))
        srun = _runlen(still, self.still_run)
        mrun = _runlen(moving, self.move_run)
        pause_idx = np.flatnonzero(srun >= P["pause_after"])
        idx = np.where(L.av != AV_NONE, np.arange(n), n)
        nav = np.minimum.accumulate(idx[::-1])[::-1]
        disp = None
        i = 0
        guard = 0
        while i < n and guard < 100000:
            guard += 1
            if self.paused:
                j = n
                if self.wake_at is not None:
                    j = max(i, self.wake_at - L.t0)
                elif P["wake"] == "activity":
                    cand = np.flatnonzero(mrun[i:] >= self.wake_d)
                    if len(cand):
                        j = i + int(cand[0])
                else:
                    if disp is None or disp[1] != self.pause_ll:
                        disp = (hav(self.pause_ll[0], self.pause_ll[1], L.lat, L.lon), self.pause_ll)
                    cand = np.flatnonzero(disp[0][i:] >= P["wake_dist"])
                    if len(cand):
                        j = i + int(cand[0]) + int(self.wake_d)
                        if j >= n:
                            self.wake_at = L.t0 + j
                if j >= n:
                    break
                self.paused = False
                self.wake_at = None
                j = int(nav[j])
                if j >= n:
                    self.t_last = L.t0 + n - 1 - 100000  # awake, first fix as soon as possible
                    self.c_last = -1e9
                    break
                self._emit_leg(pid, L, j, first=True)
                self.c_last = c[j]
                i = j + 1
                continue
            # active
            kp = np.searchsorted(pause_idx, i)
            k_pause = int(pause_idx[kp]) if kp < len(pause_idx) else n
            j_t = int(math.ceil(self.t_last + self.ival)) - L.t0
            j_d = int(np.searchsorted(c, self.c_last + P["D"], side="left")) if P["D"] > 0 else 0
            j = max(i, j_t, j_d)
            if k_pause < n and (k_pause < j or k_pause == i):
                self._pause(L.t0 + k_pause, float(L.lat[k_pause]), float(L.lon[k_pause]))
                i = k_pause + 1 if k_pause == i else k_pause
                continue
            if j >= n:
                break
            a = L.av[j]
            if a == AV_NONE:
                if nav[j] >= n:
                    break
                i = int(nav[j])
                continue
            if a == AV_RARE:
                if rng.random() < (0.08 if L.mode == PLANE else 0.15):
                    self._emit(L.t0 + j, SRC_RARE if L.mode == PLANE else SRC_COARSE, pid, j)
                    self.c_last = c[j]
                i = j + int(rng.integers(20, 90))
                continue
            if a == AV_TRAIN and rng.random() < 0.3:
                i = j + int(rng.integers(5, 40))
                continue
            self._emit_leg(pid, L, j, first=False)
            self.c_last = c[j]
            i = j + 1
        self.still_run = int(srun[-1])
        self.move_run = int(mrun[-1])
        self.c_last = self.c_last - L.dist

    def _emit_leg(self, pid: int, L: Leg, j: int, first: bool) -> None:
        a = L.av[j]
        if a == AV_RARE:
            src = SRC_RARE if L.mode == PLANE else SRC_COARSE
        elif first and self.rng.random() < self.P["coarse_first"]:
            src = SRC_COARSE
        elif a == AV_INDOOR and self.rng.random() < 0.5:
            src = SRC_WIFI
        else:
            src = SRC_GNSS
        self._emit(L.t0 + j, src, pid, j)

    def stay(self, pid: int, st: Stay) -> None:
        P, rng = self.P, self.rng
        ta, td = st.start, st.end
        pl = st.place
        saver = self._in_saver(ta)

        def src_here() -> int:
            if pl.indoor:
                u = rng.random()
                if u < 0.02:
                    return SRC_CELL
                return SRC_WIFI if u < P["p_wifi"] else SRC_GNSS
            return SRC_GNSS

        if self.paused and self.wake_at is not None and self.wake_at < td:
            tw = max(self.wake_at, ta)
            self.paused = False
            self.wake_at = None
            self._emit(tw, SRC_COARSE if rng.random() < P["coarse_first"] else src_here(), pid, -1)
            self.still_run = 0
        if not self.paused:
            tp = ta + max(0, int(P["pause_after"]) - self.still_run)
            tk = max(int(math.ceil(self.t_last + self.ival)), ta)
            first = True
            while tk < min(tp, td):
                self._emit(tk, src_here(), pid, -1)
                tk += int(rng.uniform(*P["stay_int"])) if not first else int(rng.uniform(3, 30))
                first = False
            if tp < td:
                self._pause(tp, pl.lat, pl.lon)
        elif P["visits"]:
            if float(hav(pl.lat, pl.lon, *self.pause_ll)) > 150:
                tv = ta + int(rng.uniform(60, 900))
                if tv < td:
                    self._emit(tv, src_here(), pid, -1)
                self.pause_ll = (pl.lat, pl.lon)
        if self.paused and P["still_int"] and not saver:
            si = P["still_int"]
            tk = max(ta, self.pause_t) + int(si * rng.uniform(0.5, 1.5))
            while tk < td:
                hour = ((tk + utc_offset(pl.region.zone, tk)) % 86400) / 3600
                if not (P["platform"] == "android" and hour < 6 and rng.random() < 0.7):  # doze
                    self._emit(tk, src_here(), pid, -1)
                tk += int(si * rng.uniform(0.5, 1.5))
        self.still_run += td - ta
        self.move_run = 0
        self.c_last = -1e9 if self.paused else 0.0


# --------------------------------------------------------------------------- the life


class Life:
    def __init__(self, rng, world: World, start_utc: int, start_date: date, days: int):
        self.rng = rng
        self.W = world
        self.region = world.home
        self.zone = world.home.zone
        self.start_date = start_date
        self.start_utc = start_utc
        self.end_utc = start_utc + days * 86400
        self.days = days
        self.pieces: list = []  # Stay | Leg, in time order
        self.t = start_utc
        self.night = 0
        self._make_person()
        self._make_places()
        self.here = self.home
        self.stay_start = start_utc
        self.weather: dict[int, bool] = {}
        self.info: dict = {}

    # ---- person and places
    def _make_person(self) -> None:
        rng, C = self.rng, self.W.C
        occ = str(rng.choice(["office", "student", "hybrid"], p=[0.45, 0.25, 0.30]))
        hk = str(rng.choice(["inner", "outer", "suburb"], p=[0.4, 0.4, 0.2]))
        self.person = dict(
            occupation=occ, home_kind=hk,
            walk_v=float(rng.uniform(1.2, 1.5)),
            ebike=bool(rng.random() < 0.3),
            bike_v=float(rng.uniform(4.2, 6.0)),
            fair_weather=bool(rng.random() < (0.3 if C["bike"] > 0.4 else 0.6)),
            has_car=bool(rng.random() < (0.75 if hk == "suburb" else (0.3 if C["bike"] > 0.4 else 0.45))),
            fast_driver=bool(C["autobahn"] and rng.random() < 0.4),
            wake_h=float(rng.uniform(6.4, 8.2) if occ != "student" else rng.uniform(7.3, 9.0)),
            work_h=float(rng.uniform(7.6, 9.2)),
            lunch_out=float(rng.uniform(0.2, 0.8)),
            social=float(rng.uniform(0.08, 0.3) if occ != "student" else rng.uniform(0.2, 0.4)),
            travel=float(rng.uniform(0, 1)),
            gym_days=sorted(int(d) for d in rng.choice(5, size=int(rng.integers(0, 4)), replace=False)),
            wfh_days=sorted(int(d) for d in rng.choice(5, size=int(rng.integers(1, 3)), replace=False)),
            campus_days=sorted(int(d) for d in rng.choice(5, size=int(rng.integers(3, 6)), replace=False)),
        )

    def _place(self, name, kind, xy, indoor=True, region=None) -> Place:
        rng = self.rng
        region = region or self.W.home
        wifi = tuple(_polar(rng.uniform(5, 45), rng.uniform(0, 6.3)).tolist())
        # a mislocated Wi-Fi access point: rarer at home/work, where it would dominate
        p_ph = 0.03 if kind in ("home", "work") else 0.08
        ph = tuple(_polar(rng.uniform(250, 1000), rng.uniform(0, 6.3)).tolist()) if (
            indoor and rng.random() < p_ph) else None
        lat, lon = region.ll(xy[0], xy[1])
        sig = float(rng.uniform(12, 30)) if indoor else float(region.sig_at(lat, lon))
        return Place(name, kind, region, float(xy[0]), float(xy[1]), indoor, wifi, ph, sig)

    def _near(self, xy, lo, hi):
        return np.asarray(xy) + _polar(self.rng.uniform(lo, hi), self.rng.uniform(0, 2 * math.pi))

    def _make_places(self) -> None:
        rng, W, P = self.rng, self.W, self.person
        hk = P["home_kind"]
        P["bike_ride"] = False
        if hk == "suburb":
            cands = [(ln, k) for ln in W.lines if ln.kind in ("sbahn", "regional")
                     for k in range(len(ln.stop_s)) if 12000 < math.hypot(*ln.stop_xy[k]) < 40000]
            ln, k = cands[int(rng.integers(len(cands)))]
            P["bike_ride"] = bool(rng.random() < 0.6)
            home_xy = self._near(ln.stop_xy[k], *((1000, 2200) if P["bike_ride"] else (300, 1100)))
        else:
            r = rng.uniform(600, 2500) if hk == "inner" else rng.uniform(2500, 6500)
            home_xy = _polar(r, rng.uniform(0, 2 * math.pi))
        self.home = self._place("home", "home", home_xy)
        occ = P["occupation"]
        u = rng.random()
        if u < 0.45:
            work_xy = self._near(W.centre, 100, 1400)
        elif u < 0.8:
            work_xy = self._near(W.subs[int(rng.integers(len(W.subs)))], 100, 600)
        else:
            work_xy = _polar(rng.uniform(6000, 9000), rng.uniform(0, 2 * math.pi))
        if occ == "student":
            campus = self._near(W.subs[int(rng.integers(len(W.subs)))], 0, 1200) if rng.random() < 0.6 \
                else self._near(W.centre, 300, 1200)
            self.campus = [self._place(f"uni_building_{i}", "university", self._near(campus, 50, 600))
                           for i in range(int(rng.integers(3, 5)))]
            self.mensa = self._place("mensa", "canteen", self._near(campus, 50, 400))
            self.library = self._place("library", "library", self._near(campus, 100, 700))
            self.work = self.campus[0]
        else:
            self.work = self._place("office", "work", work_xy)
        self.lunch = [self._place(f"lunch_{i}", "restaurant", self._near(self.work.xy, 120, 700))
                      for i in range(3)]
        self.other_office = self._place("client_office", "work", _polar(rng.uniform(1500, 7000), rng.uniform(0, 6.3)))
        self.bakery = self._place("bakery", "bakery", self._near(home_xy, 120, 450))
        self.super_home = self._place("supermarket", "supermarket", self._near(home_xy, 250, 900))
        self.super_work = self._place("supermarket_2", "supermarket", self._near(self.work.xy, 200, 800))
        self.drugstore = self._place("drugstore", "shop", self._near(W.centre, 100, 700))
        self.shops = [self._place(f"shop_{i}", "shop", self._near(W.centre, 50, 900)) for i in range(7)]
        self.cafes = [self._place(f"cafe_{i}", "cafe", self._near(W.centre, 100, 1500)) for i in range(3)]
        self.cafes.append(self._place("cafe_home", "cafe", self._near(home_xy, 200, 800)))
        self.market = self._place("market_square", "market", self._near(W.centre, 100, 500), indoor=False)
        self.restaurants = [self._place(f"restaurant_{i}", "restaurant",
                                        self._near(W.centre if i < 3 else home_xy, 100, 1800)) for i in range(5)]
        self.bars = [self._place(f"bar_{i}", "bar", self._near(W.centre, 100, 2000)) for i in range(4)]
        self.cinema = self._place("cinema", "cinema", self._near(W.centre, 200, 1200))
        self.gym = self._place("gym", "gym", self._near(home_xy if rng.random() < 0.6 else self.work.xy, 200, 1500))
        self.friends = [self._place(f"friend_{i}", "friend", _polar(rng.uniform(800, 7000), rng.uniform(0, 6.3)))
                        for i in range(int(rng.integers(3, 7)))]
        self.parks = [self._place("park_near_home", "park", self._near(home_xy, 400, 1500), indoor=False),
                      self._place("city_park", "park", _polar(rng.uniform(1000, 3200), rng.uniform(0, 6.3)), indoor=False)]
        self.park_cafe = self._place("beer_garden", "beer_garden", self._near(self.parks[1].xy, 150, 500), indoor=False)
        self.big_store = self._place("furniture_store", "shop", _polar(rng.uniform(8000, 12000), rng.uniform(0, 6.3)))
        self.doctor = self._place("doctor", "doctor", self._near(home_xy, 300, 2500))
        self.hbf = self._place("main_station", "station", W.hbf + [60, -40])
        self.airport = self._place("airport", "airport", W.airport_xy)
        self.gate = self._place("airport_gate", "airport", W.airport_xy + _polar(rng.uniform(500, 1000), rng.uniform(0, 6.3)))
        # excursion: near the last station of a regional line
        reg = [ln for ln in W.lines if ln.kind == "regional"]
        ln = reg[int(rng.integers(len(reg)))]
        k = len(ln.stop_s) - 1 - int(rng.integers(0, min(3, len(ln.stop_s) - 1)))
        self.lake_station = ln.stop_xy[k]
        self.lake = self._place("lake_beach", "lake", self._near(ln.stop_xy[k], 600, 1500), indoor=False)
        self.hut = self._place("mountain_hut", "restaurant", self._near(ln.stop_xy[k], 1500, 3500), indoor=True)
        W.ensure_coverage(([self.home] if hk != "suburb" else []) + [self.work, self.super_work, self.gym, *self.friends, self.other_office,
                           self.parks[1], self.doctor] + (self.campus if occ == "student" else []))
        # commute mode
        d = math.hypot(*(self.home.xy - self.work.xy))
        C = W.C
        if d < 1300:
            cm = "walk" if rng.random() < 0.6 else "bike"
        elif hk == "suburb":
            cm = "car" if P["has_car"] and rng.random() < 0.4 else "transit"
        else:
            pb = C["bike"] + (0.1 if d < 5000 else (-0.2 if d > 9000 else 0.0))
            u = rng.random()
            if u < pb:
                cm = "bike"
            elif u < pb + (0.3 if P["has_car"] else 0.0):
                cm = "car"
            else:
                cm = "transit"
        P["commute"] = cm
        P["home_work_km"] = round(d / 1000, 2)
        P["home_centre_km"] = round(math.hypot(*self.home.xy) / 1000, 2)

    # ---- time helpers
    def day_utc(self, d: int, zone: str | None = None) -> int:
        dd = self.start_date + timedelta(days=d)
        naive = datetime(dd.year, dd.month, dd.day, tzinfo=UTC).timestamp()
        return int(local_to_utc(zone or self.zone, naive))

    def at(self, d: int, h: float) -> int:
        return self.day_utc(d) + int(h * 3600)

    def hour(self) -> float:
        return ((self.t + utc_offset(self.zone, self.t)) % 86400) / 3600

    def wait_until(self, t) -> None:
        self.t = max(self.t, int(t))

    def spend(self, sec) -> None:
        self.t += max(60, int(sec))

    def rainy(self, d: int) -> bool:
        if d not in self.weather:
            m = (self.start_date + timedelta(days=d)).month
            p = 0.35 if m in (11, 12, 1, 2, 3) else 0.25
            self.weather[d] = bool(self.rng.random() < p)
        return self.weather[d]

    def winter(self, d: int) -> bool:
        return (self.start_date + timedelta(days=d)).month in (11, 12, 1, 2, 3)

    # ---- pieces
    def depart(self) -> None:
        if self.t - self.stay_start < 60:
            self.t = self.stay_start + int(self.rng.uniform(60, 120))
        self.pieces.append(Stay(self.stay_start, self.t, self.here))

    def arrive(self, dest: Place) -> None:
        self.here = dest
        self.stay_start = self.t
        if dest.region.zone != self.zone:
            self.zone = dest.region.zone
        self.region = dest.region

    def _move(self, kind: str, path_ll, *, region: Region | None, cruise, a: float, b: float,
              zone=None, corner=None, lights=None, stops=(), start_dwell=0.0, sig_mult=1.0,
              av_fn=None, mode=None) -> Leg:
        """Simulate one leg along a lat/lon polyline; append it; advance the clock."""
        rng = self.rng
        lat, lon = (np.asarray(path_ll[0], float), np.asarray(path_ll[1], float))
        seg = hav(lat[:-1], lon[:-1], lat[1:], lon[1:])
        keep = np.concatenate([[True], seg > 0.3])
        if keep.sum() < 2:
            lat = np.array([lat[0], lat[0] + 2e-5])
            lon = np.array([lon[0], lon[0]])
        else:
            lat, lon = lat[keep], lon[keep]
            if zone is not None:
                zone = np.asarray(zone, int)[keep]
        cum = np.concatenate([[0.0], np.cumsum(hav(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
        nv = len(cum)
        L = float(cum[-1])
        mode = KIND_MODE[kind] if mode is None else mode
        vmax = np.full(nv, INF)
        dwell = np.zeros(nv)
        zones = np.zeros(nv, int) if zone is None or len(zone) != nv else np.asarray(zone, int)
        cr = [cruise] if isinstance(cruise[0], (int, float)) else list(cruise)
        zone_v = [rng.uniform(*c) for c in cr]
        if corner is not None and nv > 2:
            kx = math.cos(math.radians(float(lat[0])))
            dx = np.diff(lon) * kx
            dy = np.diff(lat)
            h = np.arctan2(dy, dx)
            turn = np.abs((h[1:] - h[:-1] + np.pi) % (2 * np.pi) - np.pi)
            vmin, vref = corner
            vmax[1:-1] = vmin + (vref - vmin) * np.maximum(0.0, 1 - turn / math.radians(70))
        if lights is not None and region is not None and nv > 2:
            p_light, p_red, wr = lights
            r = hav(region.lat, region.lon, lat[1:-1], lon[1:-1])
            m = (r < region.urban_r) & (rng.random(nv - 2) < p_light) & (rng.random(nv - 2) < p_red)
            dwell[1:-1][m] = rng.uniform(wr[0], wr[1], int(m.sum()))
        dwell[0] = start_dwell
        ns, nvm, nd, nz = cum.tolist(), vmax.tolist(), dwell.tolist(), zones.tolist()
        if stops:
            for s_, dw in stops:
                k = int(np.searchsorted(cum, s_, side="right") - 1)
                ns.append(float(min(max(s_, 0), L)))
                nvm.append(0.0)
                nd.append(float(dw))
                nz.append(int(zones[max(0, min(k, nv - 1))]))
            order = np.argsort(np.asarray(ns), kind="stable")
            ns = [ns[i] for i in order]
            nvm = [nvm[i] for i in order]
            nd = [nd[i] for i in order]
            nz = [nz[i] for i in order]
        ns = np.asarray(ns)
        seg_len = np.diff(ns)
        segz = np.asarray(nz[:-1], int)
        base = np.array(zone_v)[segz]
        seg_v = np.minimum(base * np.clip(rng.normal(1, 0.05, len(seg_len)), 0.85, 1.12), VCAP[mode])
        seg_v = np.maximum(seg_v, 0.3)
        seg_a = np.full(len(seg_len), a)
        seg_b = np.full(len(seg_len), b)
        T, S, V, A, tot = _profile(seg_len, nvm, nd, seg_v, seg_a, seg_b)
        s, v = _sample(T, S, V, A, tot)
        plat = np.interp(s, cum, lat)
        plon = np.interp(s, cum, lon)
        if region is not None:
            sig = region.sig_at(plat, plon) * sig_mult
        else:
            sig = np.full(len(s), 4.0 * sig_mult)
        av = np.zeros(len(s), np.int8) if av_fn is None else av_fn(plat, plon, s, v)
        leg = Leg(kind, mode, self.t, plat, plon, v, s, np.zeros(len(s), bool), sig.astype(float),
                  av.astype(np.int8), L, region.name if region else "")
        self.pieces.append(leg)
        self.t = leg.t1
        return leg

    def _wait(self, lat: float, lon: float, secs: float, mode: int, av: int, sig: float) -> None:
        n = max(20, int(secs))
        leg = Leg("wait", mode, self.t, np.full(n, lat), np.full(n, lon), np.zeros(n), np.zeros(n),
                  np.ones(n, bool), np.full(n, sig), np.full(n, av, np.int8), 0.0, "")
        self.pieces.append(leg)
        self.t = leg.t1

    # ---- leg builders (xy in a region frame)
    def _ll(self, region: Region, xy: np.ndarray):
        return region.ll(xy[:, 0], xy[:, 1])

    def walk(self, region, a, b, kind="walk", under_start=0, under_end=0, indoor=False, key=None,
             xy=None) -> Leg:
        rng = self.rng
        a, b = np.asarray(a, float), np.asarray(b, float)
        if xy is None:
            if math.hypot(*(a - b)) < 15:
                xy = np.vstack([a, a + _polar(rng.uniform(20, 40), rng.uniform(0, 6.3)), b])
            else:
                style = "stroll" if kind == "stroll" else ("hike" if kind == "hike" else "walk")
                if key is None and kind == "walk":
                    key = tuple(int(round(v / 10)) for v in (*a, *b))
                xy = self.W.street(a, b, style, key) if region is self.W.home else street_xy(rng, a, b, style)
        v0 = self.person["walk_v"]
        cruise = {"walk": (v0 * 0.92, v0 * 1.08), "stroll": (0.7, 1.0), "hike": (1.0, 1.3)}[kind]
        us, ue = int(under_start), int(under_end)

        def av_fn(la, lo, s, v):
            av = np.full(len(s), AV_INDOOR if indoor else AV_OK, np.int8)
            if us:
                av[:us] = AV_NONE
            if ue:
                av[-ue:] = AV_NONE
            return av
        return self._move(kind, self._ll(region, xy), region=region, cruise=cruise, a=0.5, b=0.8,
                          lights=(0.15, 0.5, (5, 40)) if kind == "walk" else None,
                          sig_mult=2.2 if indoor else 1.1, av_fn=av_fn, mode=WALK)

    def loop_walk(self, region, c, r, kind="stroll") -> None:
        rng = self.rng
        th0 = rng.uniform(0, 2 * math.pi)
        centre = np.asarray(c) + _polar(r, th0)
        k = int(rng.integers(3, 6))
        pts = [np.asarray(c, float)] + [centre + _polar(r * rng.uniform(0.7, 1.2), th0 + math.pi + 2 * math.pi * i / k)
                                        for i in range(1, k)] + [np.asarray(c, float)]
        xy = [pts[0][None]]
        for p, q in zip(pts[:-1], pts[1:], strict=True):
            xy.append(street_xy(rng, p, q, "stroll" if kind == "stroll" else "hike")[1:])
        self.walk(region, pts[0], pts[-1], kind=kind, xy=_dedupe(np.vstack(xy)))

    def bike(self, region, a, b, key=None) -> None:
        rng, P = self.rng, self.person
        a2 = np.asarray(a) + _polar(rng.uniform(10, 35), rng.uniform(0, 6.3))
        b2 = np.asarray(b) + _polar(rng.uniform(10, 35), rng.uniform(0, 6.3))
        self.walk(region, a, a2)
        xy = self.W.street(a2, b2, "bike", key) if region is self.W.home else street_xy(rng, a2, b2, "bike")
        if P["ebike"]:
            cr, kind = (6.1, 6.9), "ebike"
        else:
            cr, kind = (P["bike_v"] * 0.9, P["bike_v"] * 1.1), "bike"
        self._move(kind, self._ll(region, xy), region=region, cruise=cr, a=0.8, b=1.5,
                   corner=(3.5, cr[1]), lights=(0.3, 0.45, (5, 45)), mode=BIKE)
        self.walk(region, b2, b)

    def drive(self, region, a, b, kind="car", park_a=True, park_b=True, key=None) -> None:
        rng, P = self.rng, self.person
        a, b = np.asarray(a, float), np.asarray(b, float)
        pa = a + _polar(rng.uniform(20, 150), rng.uniform(0, 6.3)) if park_a else a
        pb = b + _polar(rng.uniform(30, 350), rng.uniform(0, 6.3)) if park_b else b
        if park_a:
            self.walk(region, a, pa)
        d = math.hypot(*(pb - pa))
        if d > 12000:
            e1 = pa + (pb - pa) * min(0.3, 3500 / d) + rng.normal(0, 500, 2)
            e2 = pb - (pb - pa) * min(0.3, 3500 / d) + rng.normal(0, 500, 2)
            parts = [street_xy(rng, pa, e1, "car"), street_xy(rng, e1, e2, "motorway")[1:],
                     street_xy(rng, e2, pb, "car")[1:]]
            xy = np.vstack(parts)
            p0, p1 = len(parts[0]), len(parts[1])
            zone = np.zeros(len(xy), int)
            zone[p0 - 1:p0 + p1 - 1] = 1
        else:
            xy = self.W.street(pa, pb, "car", key) if region is self.W.home else street_xy(rng, pa, pb, "car")
            zone = np.zeros(len(xy), int)
        mw = (41.7, 50.0) if P["fast_driver"] else self.W.C["motorway"]
        lat, lon = self._ll(region, xy)
        # outside the town, the city-street zone becomes a country road
        r = hav(region.lat, region.lon, lat, lon)
        zone = np.where((zone == 0) & (r > region.urban_r * 1.3), 2, zone)
        if rng.random() < 0.15 and (zone == 1).sum() > 3:  # a jam on the motorway
            mk = np.flatnonzero(zone == 1)
            j0 = int(rng.integers(len(mk) - 2))
            zone[mk[j0]:mk[j0] + 2] = 3
        self._move(kind, (lat, lon), region=region,
                   cruise=[(8.5, 13.9), (mw[0] - 3, mw[1]), (19.0, 26.4), (2.0, 8.0)], zone=zone,
                   a=rng.uniform(1.5, 2.5), b=2.5, corner=(4.5, 13.0), lights=(0.35, 0.5, (8, 65)),
                   sig_mult=1.15, mode=CAR)
        if park_b:
            self.walk(region, pb, b)

    def ride_line(self, li: int, k0: int, k1: int) -> None:
        rng, W = self.rng, self.W
        ln = W.lines[li]
        s0, s1 = float(ln.stop_s[k0]), float(ln.stop_s[k1])
        xy = _sub_xy(ln.xy, ln.cum, s0, s1)
        lo, hi = min(k0, k1), max(k0, k1)
        stops = []
        for k in range(lo + 1, hi):
            if ln.skip_p and rng.random() < ln.skip_p:
                continue
            stops.append((abs(float(ln.stop_s[k]) - s0), rng.uniform(*ln.dwell)))
        r = np.hypot(xy[:, 0], xy[:, 1])
        kind = ln.kind
        corner = None
        lights = None
        if kind == "tram":
            zone, cruise = (r > 3000).astype(int), [(5.6, 9.7), (9.0, 13.9)]
            corner, a, b, sm = (4.0, 13.9), 1.1, 1.2, 1.25
            lights = (0.6, 0.3, (5, 30))
        elif kind == "bus":
            zone, cruise = (r > 5000).astype(int), [(8.3, 12.5), (11.0, 16.7)]
            corner, a, b, sm = (4.0, 13.9), 1.1, 1.3, 1.25
            lights = (0.5, 0.4, (5, 45))
        elif kind in ("ubahn", "metro"):
            zone, cruise = np.zeros(len(r), int), [(16.0, 22.2)]
            a, b, sm = 1.1, 1.1, 1.8
        elif kind == "sbahn":
            zone, cruise = (r > 5000).astype(int), [(14.0, 20.0), (28.0, 38.9)]
            a, b, sm = 0.95, 0.9, 1.8
        else:
            zone, cruise = (r > 4000).astype(int), [(12.0, 20.0), (33.0, 44.4)]
            a, b, sm = 0.6, 0.7, 1.8
        if kind == "tram" and corner is not None:
            cruise = [(5.6, 9.7), (9.0, 13.9)]
        ur = ln.under_r
        hr = W.home

        def av_fn(la, lo_, s, v):
            av = np.full(len(s), AV_TRAIN if kind in ("sbahn", "regional") else AV_OK, np.int8)
            if ur:
                under = hav(hr.lat, hr.lon, la, lo_) < ur
                av[under] = AV_NONE
                av[under & (v < 0.1)] = AV_RARE
            return av
        self._move(kind, self._ll(hr, xy), region=hr, cruise=cruise, zone=zone, a=a, b=b,
                   corner=corner, lights=lights, stops=stops, start_dwell=rng.uniform(8, 30),
                   sig_mult=sm, av_fn=av_fn, mode=ln.mode)

    def _wait_draw(self, ln: Line, first: bool) -> float:
        rng = self.rng
        hw = rng.uniform(*ln.headway)
        if first and ln.kind in ("sbahn", "regional"):
            w = rng.uniform(60, 480 if ln.kind == "sbahn" else 720)
        else:
            w = rng.uniform(0.05, 1.0) * hw
        h = self.hour()
        if h < 5 or h > 23.5:
            w *= 2.5
        return max(20.0, w)

    def transit(self, a, b, key=None, allow_bike=False) -> bool:
        rng, W = self.rng, self.W
        hr = W.home
        route = W.route(np.asarray(a), np.asarray(b), key, *((2500.0, 2500.0) if allow_bike else (1200.0, 1200.0)))
        if route is None:
            return False
        if not route:
            self.walk(hr, a, b, key=key)
            return True
        cur = np.asarray(a, float)
        under_prev = 0
        for i, (li, k0, k1) in enumerate(route):
            ln = W.lines[li]
            stop = ln.stop_xy[k0]
            under = bool(ln.stop_under[k0])
            ue = int(rng.uniform(40, 90)) if under else 0
            d = math.hypot(*(cur - stop))
            if i == 0 and allow_bike and d > 1000:
                self.bike(hr, cur, stop)
            else:
                self.walk(hr, cur, stop, under_start=under_prev, under_end=ue,
                          indoor=ln.kind in ("sbahn", "regional") and rng.random() < 0.3)
            la, lo = hr.ll(stop[0], stop[1])
            self._wait(float(la), float(lo), self._wait_draw(ln, i == 0), ln.mode,
                       AV_RARE if under else AV_OK, 8.0 if not under else 50.0)
            self.ride_line(li, k0, k1)
            cur = ln.stop_xy[k1]
            under_prev = int(rng.uniform(40, 90)) if ln.stop_under[k1] else 0
        d = math.hypot(*(cur - np.asarray(b)))
        if allow_bike and d > 1000:
            self.bike(hr, cur, b)
        else:
            self.walk(hr, cur, b, under_start=under_prev)
        return True

    def adhoc_transit(self, region, a, b, kind) -> None:
        """Bus/tram/metro in a city without a modelled network: a one-off line."""
        rng = self.rng
        a, b = np.asarray(a, float), np.asarray(b, float)
        u = (b - a) / max(1.0, math.hypot(*(b - a)))
        sa = a + u * rng.uniform(100, 350) + rng.normal(0, 80, 2)
        sb = b - u * rng.uniform(100, 350) + rng.normal(0, 80, 2)
        under = kind == "metro"
        ue = int(rng.uniform(40, 90)) if under else 0
        self.walk(region, a, sa, under_end=ue)
        la, lo = region.ll(sa[0], sa[1])
        self._wait(float(la), float(lo), rng.uniform(60, 600), KIND_MODE[kind],
                   AV_RARE if under else AV_OK, 8.0)
        xy = street_xy(rng, sa, sb, "metro" if under else "bus")
        cum = _cum_xy(xy)
        sp = (600, 1100) if under else (300, 600)
        stops, pos = [], 0.0
        while True:
            pos += rng.uniform(*sp)
            if pos > cum[-1] - 250:
                break
            stops.append((pos, rng.uniform(10, 35)))
        if under:
            cruise, cap = [(16.0, 22.0)], None
        elif kind == "tram":
            cruise, cap = [(5.6, 9.7)], (4.0, 13.9)
        else:
            cruise, cap = [(8.3, 12.5)], (4.0, 13.9)
        self._move(kind, self._ll(region, xy), region=region, cruise=cruise, a=1.1, b=1.2,
                   corner=cap, lights=None if under else (0.5, 0.35, (5, 40)), stops=stops,
                   start_dwell=rng.uniform(8, 25), sig_mult=1.25,
                   av_fn=(lambda la_, lo_, s, v: np.where(v < 0.1, AV_RARE, AV_NONE).astype(np.int8))
                   if under else None)
        self.walk(region, sb, b, under_start=int(rng.uniform(40, 90)) if under else 0)

    # ---- go somewhere (closes the current stay, opens one at dest)
    def go(self, dest: Place, how: str = "auto") -> None:
        rng, W = self.rng, self.W
        here = self.here
        if how == "auto":
            how = self.how_to(dest)
        self.depart()
        region = here.region
        key = (here.name, dest.name)
        if how == "loop":
            self.loop_walk(region, here.xy, rng.uniform(250, 700))
        elif here.region is not dest.region:
            raise ValueError("use a journey between regions")
        elif how in ("walk", "stroll", "hike"):
            self.walk(region, here.xy, dest.xy, kind=how, key=key if how == "walk" else None)
        elif how == "bike":
            self.bike(region, here.xy, dest.xy, key=key)
        elif how in ("car", "taxi"):
            self.drive(region, here.xy, dest.xy, kind=how, park_a=how == "car",
                       park_b=how == "car", key=key)
        elif how == "transit":
            if region is W.home:
                ok = self.transit(here.xy, dest.xy, key=key,
                                  allow_bike=self.person["bike_ride"] and "home" in (here.name, dest.name)
                                  and not self.rainy(self.day_of(self.t)))
                if not ok:
                    self.drive(region, here.xy, dest.xy, kind="taxi", park_a=False, park_b=False)
            else:
                d = math.hypot(*(here.xy - dest.xy))
                kind = self.info.get("abroad_transit", "bus")
                if d < 1500:
                    self.walk(region, here.xy, dest.xy)
                else:
                    self.adhoc_transit(region, here.xy, dest.xy, kind)
        else:
            raise ValueError(how)
        self.arrive(dest)

    def day_of(self, t: int) -> int:
        return int((t - self.start_utc) // 86400)

    def how_to(self, dest: Place, vehicle: str | None = None) -> str:
        """Mode for a leisure/errand trip from here (in the home city)."""
        rng, P = self.rng, self.person
        d = math.hypot(*(self.here.xy - dest.xy))
        if self.here.region is not self.W.home:
            return "walk" if d < 2200 else ("taxi" if rng.random() < 0.3 else "transit")
        if vehicle in ("bike", "car"):
            return vehicle
        rain = self.rainy(self.day_of(self.t))
        if d < 900:
            return "walk"
        cyclist = P["commute"] == "bike" or self.W.C["bike"] > 0.4
        if cyclist and d < 9000 and not (rain and P["fair_weather"]) and rng.random() < 0.8:
            return "bike"
        if d < 1800 and rng.random() < 0.6:
            return "walk"
        return "transit"

    # ---- journeys between regions
    def _station_walk(self, region, a, b) -> None:
        self.walk(region, a, b, indoor=True)

    def intercity(self, from_ll, to_ll, fast: bool) -> None:
        rng = self.rng
        lat, lon = gc_path(rng, from_ll[0], from_ll[1], to_ll[0], to_ll[1], 800.0, 0.04)
        cum = np.concatenate([[0.0], np.cumsum(hav(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
        L = cum[-1]
        nst = int(max(0, L // rng.uniform(70000, 150000)))
        st = sorted(rng.uniform(0.15, 0.85, nst) * L)
        stations = [0.0, *st, L]
        dmin = np.min(np.abs(cum[:, None] - np.asarray(stations)[None, :]), axis=1)
        block = (cum // 40000).astype(int)
        fastblk = rng.random(block.max() + 1) < (0.45 if fast else 0.0)
        zone = np.where(dmin < 6000, 0, np.where(fastblk[block], 2, 1))
        self._move("intercity", (lat, lon), region=None,
                   cruise=[(16.0, 22.0), (38.0, 44.4), (55.6, 69.4)], zone=zone, a=0.45, b=0.55,
                   stops=[(s, rng.uniform(90, 240)) for s in st], start_dwell=rng.uniform(20, 90),
                   sig_mult=3.0, av_fn=lambda la, lo, s, v: np.full(len(s), AV_TRAIN, np.int8))

    def flight(self, ap_a: Place, ap_b: Place) -> None:
        rng = self.rng
        ra, rb = ap_a.region, ap_b.region
        ta = street_xy(rng, ap_a.xy, ap_a.xy + _polar(rng.uniform(2000, 4000), rng.uniform(0, 6.3)), "taxiway")
        tb = street_xy(rng, ap_b.xy + _polar(rng.uniform(2000, 4000), rng.uniform(0, 6.3)), ap_b.xy, "taxiway")
        la1, lo1 = ra.ll(ta[:, 0], ta[:, 1])
        la3, lo3 = rb.ll(tb[:, 0], tb[:, 1])
        la2, lo2 = gc_path(rng, la1[-1], lo1[-1], la3[0], lo3[0], 3000.0, 0.02)
        lat = np.concatenate([la1, la2[1:-1], la3])
        lon = np.concatenate([lo1, lo2[1:-1], lo3])
        n1, n2 = len(la1), len(la2) - 2
        zone = np.concatenate([np.zeros(n1, int), np.ones(n2, int), np.zeros(len(la3), int)])
        zone[n1 - 1] = 1
        cum = np.concatenate([[0.0], np.cumsum(hav(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
        s_rw0 = cum[n1 - 1]
        s_td = cum[n1 + n2] - 2500
        boarding = rng.uniform(900, 1800)
        window = rng.random() < self.phone["window_seat"]
        t_on = rng.uniform(30, 240)

        def av_fn(la, lo, s, v):
            av = np.full(len(s), AV_INDOOR, np.int8)
            k_push = int(boarding - rng.uniform(120, 400))
            av[max(0, k_push):] = AV_NONE
            air = np.flatnonzero(s >= s_td)
            if len(air):
                av[min(len(s) - 1, air[0] + int(t_on)):] = AV_OK
            if window:
                cruise = (s > s_rw0 + 30000) & (s < s_td - 30000)
                av[cruise] = AV_RARE
            return av
        self._move("plane", (lat, lon), region=None,
                   cruise=[(6.0, 9.0), (225.0, 245.0)], zone=zone, a=0.3, b=0.15,
                   stops=[(s_rw0, rng.uniform(60, 600))], start_dwell=boarding, sig_mult=2.5,
                   av_fn=av_fn, mode=PLANE)

    # ---- calendar
    def run(self, phone: dict) -> None:
        self.phone = phone
        rng, P = self.rng, self.person
        days = self.days
        C = self.W.C
        hol: set[date] = set()
        for y in {(self.start_date + timedelta(days=d)).year for d in range(days)}:
            hol |= public_holidays(C["country"], y)
        cal = []
        for d in range(days):
            dd = self.start_date + timedelta(days=d)
            wd = dd.weekday()
            if wd >= 5 or dd in hol:
                k = "sat" if wd == 5 else "sun"
            elif P["occupation"] == "student":
                k = "uni" if wd in P["campus_days"] else "wfh"
            elif P["occupation"] == "hybrid" and wd in P["wfh_days"]:
                k = "wfh"
            else:
                k = "work"
            xmas = (dd.month == 12 and dd.day >= 23) or (dd.month == 1 and dd.day <= 6)
            if k in ("work", "uni", "wfh") and xmas and rng.random() < 0.85:
                k = "sun" if rng.random() < 0.5 else "sat"  # days off between the years
            elif k == "uni" and dd.month in (2, 3, 8, 9) and rng.random() < 0.7:
                k = "wfh"  # semester break: library and home
            if k in ("work", "uni", "wfh") and rng.random() < 0.02:
                k = "sick"
            cal.append(k)
        free = np.ones(days, bool)
        free[0] = free[days - 1] = False
        # holiday abroad
        if days >= 16 and rng.random() < 0.3 + 0.6 * P["travel"]:
            n = int(rng.integers(4, 10))
            lo, hi = 2, days - n - 3
            if hi > lo:
                a = int(rng.integers(lo, hi))
                cal[a] = "fly_out"
                for d in range(a + 1, a + n):
                    cal[d] = "abroad"
                cal[a + n] = "fly_back"
                free[a - 1:a + n + 2] = False
        # parents / friends in another city (weekend, by intercity train or car)
        for _ in range(int(rng.integers(0, 2 + int(P["travel"] > 0.5)))):
            sats = [d for d in range(1, days - 2) if cal[d] == "sat" and free[d] and free[d + 1]]
            if not sats:
                break
            d = sats[int(rng.integers(len(sats)))]
            cal[d], cal[d + 1] = "parents_go", "parents_back"
            free[d - 1:d + 3] = False
        # a business day trip
        if P["occupation"] != "student" and rng.random() < 0.25 + 0.3 * P["travel"]:
            wk = [d for d in range(1, days - 1) if cal[d] == "work" and free[d]]
            if wk:
                d = wk[int(rng.integers(len(wk)))]
                cal[d] = "business"
                free[d] = False
        for d in range(days):
            if cal[d] in ("sat", "sun") and free[d] and rng.random() < (0.1 if self.winter(d) else 0.25):
                cal[d] = "excursion"
        cal[days - 1] = "last"
        self.calendar = cal
        for d in range(days):
            if self.t >= self.day_utc(d + 1) - 2 * 3600:
                continue
            getattr(self, "day_" + cal[d])(d)
        # close the last stay at the end of the window
        if self.t < self.end_utc:
            self.pieces.append(Stay(self.stay_start, self.end_utc, self.here))
        self._truncate()

    def _truncate(self) -> None:
        out = []
        for p in self.pieces:
            if isinstance(p, Stay):
                if p.start >= self.end_utc:
                    break
                p.end = min(p.end, self.end_utc)
                if p.end > p.start:
                    out.append(p)
            else:
                if p.t0 >= self.end_utc:
                    break
                if p.t1 > self.end_utc:
                    k = self.end_utc - p.t0
                    for f in ("lat", "lon", "v", "s", "wait", "sig", "av"):
                        setattr(p, f, getattr(p, f)[:k])
                    p.dist = float(p.s[-1]) if len(p.s) else 0.0
                out.append(p)
        self.pieces = out

    # ---- day plans (home city)
    def commute_today(self, d: int) -> str:
        P, rng = self.person, self.rng
        cm = P["commute"]
        if cm == "bike" and self.rainy(d) and (P["fair_weather"] or rng.random() < 0.3):
            return "transit" if math.hypot(*(self.home.xy - self.work.xy)) > 1500 else "walk"
        if cm == "bike" and self.winter(d) and P["fair_weather"] and rng.random() < 0.4:
            return "transit"
        if cm == "car" and rng.random() < 0.1:
            return "transit"
        if cm == "transit" and P["has_car"] and rng.random() < 0.05:
            return "car"
        return cm

    def _leg_how(self, dest: Place, commute: str) -> str:
        if commute in ("bike", "car"):
            return commute
        d = math.hypot(*(self.here.xy - dest.xy))
        return "walk" if d < 1200 else "transit"

    def day_work(self, d: int) -> None:
        rng, P = self.rng, self.person
        cm = self.commute_today(d)
        self.wait_until(self.at(d, P["wake_h"] + rng.normal(0, 0.25)))
        if rng.random() < 0.12:
            self.go(self.bakery, "walk" if cm not in ("bike", "car") else cm)
            self.spend(rng.uniform(180, 480))
        self.go(self.work, cm)
        t_end = self.t + int(P["work_h"] * 3600 + rng.normal(0, 1200))
        if rng.random() < P["lunch_out"]:
            self.wait_until(self.at(d, rng.uniform(11.75, 12.9)))
            self.go(self.lunch[int(rng.integers(3))], "walk")
            self.spend(rng.uniform(25, 50) * 60)
            self.go(self.work, "walk")
        if rng.random() < 0.05:
            self.wait_until(self.at(d, rng.uniform(13.8, 15)))
            self.go(self.other_office, "transit")
            self.spend(rng.uniform(60, 120) * 60)
            self.go(self.work, "transit")
        self.wait_until(max(t_end, self.t + rng.uniform(600, 2400)))
        self.after_work(d, cm)
        self.evening(d, P["social"] * (2.0 if (self.start_date + timedelta(days=d)).weekday() == 4 else 1.0))

    def after_work(self, d: int, cm: str) -> None:
        rng, P = self.rng, self.person
        wd = (self.start_date + timedelta(days=d)).weekday()
        todo = []
        if wd in P["gym_days"]:
            todo.append((self.gym, rng.uniform(55, 95) * 60))
        if rng.random() < 0.3:
            todo.append((self.super_work if rng.random() < 0.4 else self.super_home, rng.uniform(8, 25) * 60))
        if rng.random() < 0.08:
            todo.append((self.drugstore, rng.uniform(5, 15) * 60))
        if rng.random() < 0.06 and cm != "car":
            todo.append((self.friends[int(rng.integers(len(self.friends)))], rng.uniform(60, 150) * 60))
        for pl, dur in todo:
            self.go(pl, self._leg_how(pl, cm))
            self.spend(dur)
        self.go(self.home, cm if cm in ("bike", "car") else self._leg_how(self.home, cm))

    def evening(self, d: int, p: float) -> None:
        rng = self.rng
        if rng.random() > p or self.hour() > 20.5 or self.here is not self.home:
            return
        self.wait_until(self.at(d, rng.uniform(18.8, 20.5)))
        pool = self.restaurants + self.bars + self.friends + [self.cinema]
        pl = pool[int(rng.integers(len(pool)))]
        how = self.how_to(pl)
        self.go(pl, how)
        self.spend(rng.uniform(1.5, 3.5) * 3600)
        if rng.random() < 0.25:
            b = self.bars[int(rng.integers(len(self.bars)))]
            if b is not pl:
                self.go(b, "walk" if math.hypot(*(b.xy - pl.xy)) < 1500 else ("bike" if how == "bike" else "transit"))
                self.spend(rng.uniform(1, 2.2) * 3600)
        ret = how if how in ("walk", "bike") else ("taxi" if rng.random() < 0.15 else "transit")
        self.go(self.home, ret)

    def day_wfh(self, d: int) -> None:
        rng, P = self.rng, self.person
        if rng.random() < 0.3:
            self.wait_until(self.at(d, rng.uniform(7.5, 9.5)))
            self.go(self.bakery, "walk")
            self.spend(rng.uniform(180, 480))
            self.go(self.home, "walk")
        if rng.random() < 0.35:
            self.wait_until(self.at(d, rng.uniform(12.0, 13.3)))
            if rng.random() < 0.5:
                self.go(self.home, "loop")
            else:
                self.go(self.cafes[3], "walk")
                self.spend(rng.uniform(25, 50) * 60)
                self.go(self.home, "walk")
        if P["occupation"] == "student" and rng.random() < 0.3:
            self.wait_until(self.at(d, rng.uniform(13.5, 15)))
            self.go(self.library, "auto")
            self.spend(rng.uniform(1.5, 3.5) * 3600)
            self.go(self.home, "auto")
        self.wait_until(self.at(d, rng.uniform(16.8, 18.2)))
        wd = (self.start_date + timedelta(days=d)).weekday()
        if wd in P["gym_days"]:
            self.go(self.gym, "auto")
            self.spend(rng.uniform(55, 95) * 60)
            self.go(self.home, "auto")
        if rng.random() < 0.35:
            self.go(self.super_home, "walk")
            self.spend(rng.uniform(8, 25) * 60)
            self.go(self.home, "walk")
        elif not self.winter(d) and rng.random() < 0.25:
            self.park_visit(d)
        self.evening(d, P["social"])

    def day_uni(self, d: int) -> None:
        rng, P = self.rng, self.person
        cm = self.commute_today(d)
        self.wait_until(self.at(d, P["wake_h"] + rng.normal(0, 0.6)))
        bld = self.campus
        cur = bld[int(rng.integers(len(bld)))]
        self.go(cur, cm)
        k = int(rng.integers(1, 4))
        lunch = False
        for i in range(k):
            self.spend(rng.uniform(80, 100) * 60 + rng.uniform(0, 20) * 60)
            if not lunch and self.hour() > 11.3 and rng.random() < 0.7:
                self.go(self.mensa, "walk")
                self.spend(rng.uniform(25, 45) * 60)
                lunch = True
            if i < k - 1:
                nxt = bld[int(rng.integers(len(bld)))]
                if nxt is not self.here:
                    self.go(nxt, "walk")
        if rng.random() < 0.4:
            self.go(self.library, "walk")
            self.spend(rng.uniform(1, 3) * 3600)
        self.after_work(d, cm)
        self.evening(d, P["social"])

    def day_sick(self, d: int) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            self.wait_until(self.at(d, rng.uniform(9, 11)))
            self.go(self.doctor, "auto")
            self.spend(rng.uniform(30, 80) * 60)
            self.go(self.home, "auto")

    def park_visit(self, d: int) -> None:
        rng = self.rng
        park = self.parks[int(rng.integers(2))]
        self.go(park, "auto" if park is self.parks[1] else "walk")
        self.spend(rng.uniform(15, 70) * 60)
        if park is self.parks[1] and rng.random() < 0.6:
            self.go(self.park_cafe, "stroll")
            self.spend(rng.uniform(30, 80) * 60)
        else:
            self.depart()
            self.loop_walk(park.region, park.xy, rng.uniform(150, 450))
            self.arrive(park)
            self.spend(rng.uniform(5, 20) * 60)
        self.go(self.home, "auto")

    def town_shopping(self, d: int) -> None:
        rng = self.rng
        first = self.market if rng.random() < 0.4 else self.shops[int(rng.integers(len(self.shops)))]
        self.go(first, "auto")
        self.spend(rng.uniform(5, 25) * 60)
        for _ in range(int(rng.integers(1, 5))):
            nxt = self.shops[int(rng.integers(len(self.shops)))]
            if nxt is self.here:
                continue
            self.go(nxt, "walk")
            self.spend(rng.uniform(3, 30) * 60)
        if rng.random() < 0.6:
            self.go(self.cafes[int(rng.integers(3))], "walk")
            self.spend(rng.uniform(25, 60) * 60)
        self.go(self.home, "auto")

    def day_sat(self, d: int) -> None:
        rng, P = self.rng, self.person
        self.wait_until(self.at(d, rng.uniform(8.8, 11.0)))
        if rng.random() < 0.5:
            self.go(self.bakery, "walk")
            self.spend(rng.uniform(180, 480))
            if rng.random() < 0.4:
                self.go(self.super_home, "walk")
                self.spend(rng.uniform(10, 25) * 60)
            self.go(self.home, "walk")
        u = rng.random()
        self.wait_until(self.at(d, rng.uniform(11.0, 14.0)))
        if u < 0.4:
            self.town_shopping(d)
        elif u < 0.55 and P["has_car"]:
            self.go(self.big_store, "car")
            self.spend(rng.uniform(40, 100) * 60)
            self.go(self.home, "car")
        elif u < 0.75 and not self.winter(d):
            self.park_visit(d)
        elif u < 0.9:
            f = self.friends[int(rng.integers(len(self.friends)))]
            self.go(f, "auto")
            self.spend(rng.uniform(1.5, 4) * 3600)
            self.go(self.home, "auto")
        if self.day_of(self.t) == d:
            self.evening(d, 0.5)

    def day_sun(self, d: int) -> None:
        rng = self.rng
        u = rng.random()
        if u < 0.3:
            self.wait_until(self.at(d, rng.uniform(10, 11.5)))
            c = self.cafes[int(rng.integers(len(self.cafes)))]
            self.go(c, "auto")
            self.spend(rng.uniform(60, 120) * 60)
            self.go(self.home, "auto")
        if rng.random() < (0.3 if self.winter(d) else 0.55):
            self.wait_until(self.at(d, rng.uniform(14, 16.5)))
            if rng.random() < 0.5:
                self.park_visit(d)
            else:
                self.go(self.home, "loop")
        elif rng.random() < 0.25:
            self.wait_until(self.at(d, rng.uniform(14, 17)))
            f = self.friends[int(rng.integers(len(self.friends)))]
            self.go(f, "auto")
            self.spend(rng.uniform(1.5, 4) * 3600)
            self.go(self.home, "auto")
        if self.day_of(self.t) == d:
            self.evening(d, 0.15)

    def day_last(self, d: int) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self.wait_until(self.at(d, rng.uniform(10, 16)))
            self.go(self.super_home, "walk")
            self.spend(rng.uniform(8, 25) * 60)
            self.go(self.home, "walk")

    def day_excursion(self, d: int) -> None:
        rng, P = self.rng, self.person
        self.wait_until(self.at(d, rng.uniform(8.5, 10.5)))
        by_car = P["has_car"] and rng.random() < 0.7
        self.go(self.lake, "car" if by_car else "transit")
        self.spend(rng.uniform(10, 40) * 60)
        self.go(self.hut, "hike")
        self.spend(rng.uniform(40, 90) * 60)
        self.go(self.lake, "hike")
        self.spend(rng.uniform(30, 120) * 60)
        self.go(self.home, "car" if by_car else "transit")
        self.evening(d, 0.1)

    # ---- journeys
    def _to_hbf(self) -> None:
        """From here (home region) to the long-distance platform, without a stay."""
        rng, W = self.rng, self.W
        hr = W.home
        plat = self.hbf.xy + _polar(rng.uniform(80, 250), rng.uniform(0, 6.3))
        d = math.hypot(*(self.here.xy - self.hbf.xy))
        if d < 1500:
            self.walk(hr, self.here.xy, self.hbf.xy)
        elif not self.transit(self.here.xy, self.hbf.xy, key=(self.here.name, "hbf")):
            self.drive(hr, self.here.xy, self.hbf.xy, kind="taxi", park_a=False, park_b=False)
        self._station_walk(hr, self.hbf.xy, plat)
        la, lo = hr.ll(plat[0], plat[1])
        self._wait(float(la), float(lo), rng.uniform(300, 1200), TRAIN, AV_INDOOR, 20.0)
        self._plat = (float(la), float(lo))

    def _far_region(self, name, lat, lon) -> Region:
        return Region(name, lat, lon, self.W.home.zone, canyon_r=self.rng.uniform(700, 1300),
                      urban_r=self.rng.uniform(4000, 6000))

    def day_parents_go(self, d: int) -> None:
        rng = self.rng
        if "parents" not in self.info:
            name, la, lo, fast = self.W.C["far"][int(rng.integers(len(self.W.C["far"])))]
            reg = self._far_region(name, la, lo)
            self.info["parents"] = dict(city=name, region=reg, fast=fast,
                                        home=self._place("parents_home", "family", _polar(rng.uniform(2000, 7000), rng.uniform(0, 6.3)), region=reg),
                                        station=self._place(f"{name}_station", "station", np.array([0.0, 0.0]), region=reg),
                                        cafe=self._place("parents_cafe", "cafe", _polar(rng.uniform(500, 2500), rng.uniform(0, 6.3)), region=reg),
                                        forest=self._place("forest_parking", "park", _polar(rng.uniform(6000, 12000), rng.uniform(0, 6.3)), indoor=False, region=reg))
        par = self.info["parents"]
        reg = par["region"]
        self.wait_until(self.at(d, rng.uniform(8.5, 11.5)))
        self.depart()
        self._to_hbf()
        self.intercity(self._plat, (reg.lat, reg.lon), par["fast"])
        out = np.array([0.0, 0.0]) + _polar(rng.uniform(100, 250), rng.uniform(0, 6.3))
        self._station_walk(reg, np.array([0.0, 0.0]), out)
        self.drive(reg, out, par["home"].xy, kind="car", park_a=False, park_b=False)
        self.arrive(par["home"])
        self.spend(rng.uniform(1.5, 3) * 3600)
        if rng.random() < 0.7:
            self.go(par["forest"], "car")
            self.spend(rng.uniform(2, 6) * 60)
            self.depart()
            self.loop_walk(reg, par["forest"].xy, rng.uniform(500, 1200), kind="hike")
            self.drive(reg, par["forest"].xy, par["home"].xy, kind="car")
            self.arrive(par["home"])
        self.spend(rng.uniform(60, 120) * 60)

    def day_parents_back(self, d: int) -> None:
        rng = self.rng
        par = self.info["parents"]
        reg = par["region"]
        if rng.random() < 0.5:
            self.wait_until(self.at(d, rng.uniform(10, 11)))
            self.go(par["cafe"], "car")
            self.spend(rng.uniform(60, 100) * 60)
            self.go(par["home"], "car")
        self.wait_until(self.at(d, rng.uniform(14, 17)))
        self.depart()
        self.drive(reg, par["home"].xy, np.array([50.0, 80.0]), kind="car", park_a=False, park_b=False)
        plat = _polar(rng.uniform(80, 200), rng.uniform(0, 6.3))
        self._station_walk(reg, np.array([50.0, 80.0]), plat)
        la, lo = reg.ll(plat[0], plat[1])
        self._wait(float(la), float(lo), rng.uniform(300, 900), TRAIN, AV_INDOOR, 20.0)
        hbf_plat = self.hbf.xy + _polar(rng.uniform(80, 250), rng.uniform(0, 6.3))
        hla, hlo = self.W.home.ll(hbf_plat[0], hbf_plat[1])
        self.intercity((float(la), float(lo)), (float(hla), float(hlo)), par["fast"])
        self.zone = self.W.home.zone
        self._station_walk(self.W.home, hbf_plat, self.hbf.xy)
        self.here = self.hbf
        if not self.transit(self.hbf.xy, self.home.xy, key=("hbf", "home")):
            self.drive(self.W.home, self.hbf.xy, self.home.xy, kind="taxi", park_a=False, park_b=False)
        self.arrive(self.home)

    def day_business(self, d: int) -> None:
        rng = self.rng
        name, la, lo, fast = self.W.C["far"][int(rng.integers(len(self.W.C["far"])))]
        reg = self._far_region(name, la, lo)
        office = self._place(f"{name}_office", "work", _polar(rng.uniform(500, 3000), rng.uniform(0, 6.3)), region=reg)
        self.wait_until(self.at(d, rng.uniform(5.8, 7.3)))
        self.depart()
        self._to_hbf()
        self.intercity(self._plat, (reg.lat, reg.lon), fast)
        out = _polar(rng.uniform(100, 250), rng.uniform(0, 6.3))
        self._station_walk(reg, np.zeros(2), out)
        if math.hypot(*(out - office.xy)) < 1800:
            self.walk(reg, out, office.xy)
        else:
            self.adhoc_transit(reg, out, office.xy, "tram")
        self.arrive(office)
        self.spend(rng.uniform(3, 5.5) * 3600)
        self.depart()
        if math.hypot(*office.xy) < 1800:
            self.walk(reg, office.xy, np.zeros(2))
        else:
            self.adhoc_transit(reg, office.xy, np.zeros(2), "tram")
        plat = _polar(rng.uniform(80, 200), rng.uniform(0, 6.3))
        self._station_walk(reg, np.zeros(2), plat)
        pla, plo = reg.ll(plat[0], plat[1])
        self._wait(float(pla), float(plo), rng.uniform(300, 1200), TRAIN, AV_INDOOR, 20.0)
        hbf_plat = self.hbf.xy + _polar(rng.uniform(80, 250), rng.uniform(0, 6.3))
        hla, hlo = self.W.home.ll(hbf_plat[0], hbf_plat[1])
        self.intercity((float(pla), float(plo)), (float(hla), float(hlo)), fast)
        self._station_walk(self.W.home, hbf_plat, self.hbf.xy)
        if not self.transit(self.hbf.xy, self.home.xy, key=("hbf", "home")):
            self.drive(self.W.home, self.hbf.xy, self.home.xy, kind="taxi", park_a=False, park_b=False)
        self.arrive(self.home)

    def day_fly_out(self, d: int) -> None:
        rng = self.rng
        name, la, lo, zone, coast, metro = ABROAD[int(rng.integers(len(ABROAD)))]
        reg = Region(name, la, lo, zone, canyon_r=rng.uniform(800, 1400), urban_r=rng.uniform(4000, 7000),
                     sig_canyon=rng.uniform(6, 10))
        self.info["abroad"] = name
        self.info["abroad_transit"] = "metro" if metro else "bus"
        ap_xy = _polar(rng.uniform(7000, 20000), rng.uniform(0, 6.3))
        H = dict(region=reg,
                 hotel=self._place("hotel", "hotel", _polar(rng.uniform(300, 1500), rng.uniform(0, 6.3)), region=reg),
                 airport=self._place(f"{name}_airport", "airport", ap_xy, region=reg),
                 gate=self._place(f"{name}_gate", "airport", ap_xy + _polar(rng.uniform(400, 900), rng.uniform(0, 6.3)), region=reg),
                 sights=[self._place(f"sight_{i}", "museum" if i % 2 else "sight",
                                     _polar(rng.uniform(300, 3000), rng.uniform(0, 6.3)), indoor=bool(i % 2), region=reg)
                         for i in range(7)],
                 food=[self._place(f"holiday_restaurant_{i}", "restaurant",
                                   _polar(rng.uniform(200, 2000), rng.uniform(0, 6.3)), region=reg) for i in range(5)],
                 beach=self._place("beach", "beach", _polar(rng.uniform(3000, 9000), rng.uniform(0, 6.3)), indoor=False, region=reg)
                 if coast else None)
        self.holiday = H
        dep_h = rng.uniform(8, 18)
        self.wait_until(self.at(d, dep_h - rng.uniform(2.6, 3.2)))
        self.go(self.airport, "transit" if rng.random() < 0.7 else "taxi")
        self.spend(rng.uniform(15, 40) * 60)
        self.go(self.gate, "walk")
        self.spend(rng.uniform(15, 50) * 60)
        self._board_and_fly(self.gate, H["airport"])
        self.spend(rng.uniform(10, 35) * 60)
        self.go(H["hotel"], "taxi" if rng.random() < 0.5 else "transit")
        self.spend(rng.uniform(40, 90) * 60)
        if self.hour() < 21:
            self.go(H["food"][int(rng.integers(5))], "auto")
            self.spend(rng.uniform(60, 120) * 60)
            self.go(H["hotel"], "auto")

    def _board_and_fly(self, gate: Place, gate_b: Place) -> None:
        """Gate -> (apron bus) -> plane -> stand -> walk to gate_b (the baggage hall)."""
        rng = self.rng
        self.depart()
        ra = gate.region
        apron = gate.xy + _polar(rng.uniform(300, 1200), rng.uniform(0, 6.3))
        if rng.random() < 0.35:
            self.walk(ra, gate.xy, gate.xy + _polar(40, 1.0), indoor=True)
            xy = street_xy(rng, gate.xy + _polar(40, 1.0), apron, "taxiway")
            self._move("apron_bus", self._ll(ra, xy), region=ra, cruise=(5.0, 8.0), a=1.0, b=1.2,
                       start_dwell=rng.uniform(120, 400), mode=BUS)
            start = apron
        else:
            start = gate.xy + _polar(60, 2.0)
            self.walk(ra, gate.xy, start, indoor=True)
        ap_a = Place("stand", "airport", ra, float(start[0]), float(start[1]))
        end = gate_b.xy + _polar(rng.uniform(400, 900), rng.uniform(0, 6.3))
        ap_b = Place("stand", "airport", gate_b.region, float(end[0]), float(end[1]))
        self.flight(ap_a, ap_b)
        self.walk(gate_b.region, end, gate_b.xy, indoor=True)  # to the baggage hall
        self.arrive(gate_b)

    def day_abroad(self, d: int) -> None:
        rng = self.rng
        H = self.holiday
        self.wait_until(self.at(d, rng.uniform(8.5, 10.5)))
        if rng.random() < 0.3:
            self.go(H["food"][int(rng.integers(5))], "walk")
            self.spend(rng.uniform(30, 60) * 60)
        if H["beach"] is not None and rng.random() < 0.4:
            self.go(H["beach"], "auto")
            self.spend(rng.uniform(2, 4.5) * 3600)
            if rng.random() < 0.5:
                self.go(H["beach"], "loop")
                self.spend(rng.uniform(10, 40) * 60)
        else:
            for _ in range(int(rng.integers(2, 5))):
                s = H["sights"][int(rng.integers(len(H["sights"])))]
                if s is self.here:
                    continue
                self.go(s, "auto")
                self.spend(rng.uniform(20, 120) * 60)
            self.go(H["food"][int(rng.integers(5))], "auto")
            self.spend(rng.uniform(40, 80) * 60)
        self.go(H["hotel"], "auto")
        self.spend(rng.uniform(40, 120) * 60)
        self.wait_until(self.at(d, rng.uniform(19, 21)))
        self.go(H["food"][int(rng.integers(5))], "auto")
        self.spend(rng.uniform(70, 150) * 60)
        self.go(H["hotel"], "auto")

    def day_fly_back(self, d: int) -> None:
        rng = self.rng
        H = self.holiday
        dep_h = rng.uniform(9, 19)
        self.wait_until(self.at(d, dep_h - rng.uniform(2.4, 3.0)))
        self.go(H["airport"], "taxi" if rng.random() < 0.5 else "transit")
        self.spend(rng.uniform(15, 40) * 60)
        self.go(H["gate"], "walk")
        self.spend(rng.uniform(15, 50) * 60)
        self._board_and_fly(H["gate"], self.airport)
        self.spend(rng.uniform(10, 35) * 60)
        self.go(self.home, "transit" if rng.random() < 0.7 else "taxi")


# --------------------------------------------------------------------------- blackouts, noise


def _blackouts(rng, life: Life, prof: dict) -> tuple[list[tuple[int, int]], list[tuple[int, int]], dict]:
    """Phone off / app killed intervals and battery-saver periods, in local time habits."""
    habits = dict(
        off_days=int(rng.poisson(0.6)),
        killed_rate=float(rng.choice([0.0, 0.05, 0.12], p=[0.4, 0.4, 0.2])),
        dead_rate=float(rng.uniform(0.0, 0.05)),
        night_off=bool(rng.random() < 0.12),
        saver_rate=float(rng.choice([0.0, 0.08, 0.2], p=[0.4, 0.4, 0.2])),
    )
    out, saver = [], []
    days = life.days
    z = life.W.home.zone
    for _ in range(habits["off_days"]):
        d = int(rng.integers(1, days - 1))
        a = life.day_utc(d, z) + int(rng.uniform(0, 10) * 3600)
        out.append((a, a + int(rng.uniform(14, 30) * 3600)))
    for d in range(days):
        base = life.day_utc(d, z)
        if rng.random() < habits["killed_rate"]:
            a = base + int(rng.uniform(0, 24) * 3600)
            out.append((a, a + int(rng.uniform(2, 14) * 3600)))
        if rng.random() < habits["dead_rate"]:
            a = base + int(rng.uniform(19.5, 23.5) * 3600)
            out.append((a, base + 86400 + int(rng.uniform(6.5, 8.5) * 3600)))
        if habits["night_off"] and rng.random() < 0.9:
            a = base + int(rng.uniform(22.8, 25.0) * 3600)
            out.append((a, base + 86400 + int(rng.uniform(6.0, 7.6) * 3600)))
        if rng.random() < habits["saver_rate"]:
            a = base + int(rng.uniform(14, 19) * 3600)
            saver.append((a, a + int(rng.uniform(3, 7) * 3600)))
    out = [(max(a, life.start_utc + 3600), min(b, life.end_utc - 3600)) for a, b in out]
    out = sorted((a, b) for a, b in out if b - a > 600)
    merged: list[list[int]] = []
    for a, b in out:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(int(a), int(b)) for a, b in merged], saver, habits


def _truth_at(pieces, starts, t: int):
    k = int(np.searchsorted(starts, t, side="right") - 1)
    k = max(0, min(k, len(pieces) - 1))
    p = pieces[k]
    if isinstance(p, Stay):
        return k, -1
    return k, int(min(max(t - p.t0, 0), p.n - 1))


def _assemble(rng, life: Life, prof: dict, fixes, blackouts, seed: int) -> GroundTruth:
    pieces = life.pieces
    starts = np.array([p.start if isinstance(p, Stay) else p.t0 for p in pieces])
    # restart fixes after each blackout (the app opened again)
    fixes = list(fixes)
    bl = np.array(blackouts, dtype=np.int64).reshape(-1, 2)
    if len(bl):
        for _a, b in blackouts:
            for j in range(int(rng.integers(1, 4))):
                t = b + int(rng.uniform(5, 90)) + 20 * j
                pid, idx = _truth_at(pieces, starts, t)
                fixes.append((t, SRC_COARSE if j == 0 and rng.random() < 0.4 else
                              (SRC_WIFI if isinstance(pieces[pid], Stay) and pieces[pid].place.indoor else SRC_GNSS),
                              pid, idx))
    if len(bl) and fixes:
        ft = np.array([f[0] for f in fixes])
        k = np.searchsorted(bl[:, 0], ft, side="right") - 1
        inside = (k >= 0) & (ft <= bl[np.maximum(k, 0), 1])
        fixes = [f for f, bad in zip(fixes, inside, strict=True) if not bad]
    fixes.sort(key=lambda f: f[0])
    ts_all = np.array([f[0] for f in fixes], dtype=np.int64)
    keep = np.concatenate([[True], np.diff(ts_all) > 0])
    fixes = [f for f, k in zip(fixes, keep, strict=True) if k]
    fixes = [f for f in fixes if life.start_utc <= f[0] < life.end_utc]
    n = len(fixes)
    ts = np.array([f[0] for f in fixes], dtype=float)
    tlat = np.empty(n)
    tlon = np.empty(n)
    mode = np.empty(n, np.int64)
    waiting = np.zeros(n, bool)
    stay_idx = np.full(n, -1, np.int64)
    sig = np.empty(n)
    src = np.array([f[1] for f in fixes], np.int64)
    # true stays
    stay_pid = {}
    true_stays = []
    for pid, p in enumerate(pieces):
        if isinstance(p, Stay):
            stay_pid[pid] = len(true_stays)
            true_stays.append(dict(start=float(p.start), end=float(p.end), place=p.place.name,
                                   lat=p.place.lat, lon=p.place.lon, kind=p.place.kind,
                                   region=p.place.region.name))
    places = []
    for i, (_t, _s, pid, idx) in enumerate(fixes):
        p = pieces[pid]
        if isinstance(p, Stay):
            tlat[i], tlon[i] = p.place.lat, p.place.lon
            mode[i] = STATIONARY
            stay_idx[i] = stay_pid[pid]
            sig[i] = p.place.sig
            places.append(p.place)
        else:
            tlat[i], tlon[i] = p.lat[idx], p.lon[idx]
            mode[i] = p.mode
            waiting[i] = p.wait[idx]
            sig[i] = p.sig[idx]
            places.append(None)
    # ---- noise
    ios = prof["platform"] == "ios"
    tau = prof["tau"]
    ex = np.zeros(n)
    ny = np.zeros(n)
    acc = np.zeros(n)
    e = np.zeros(2)
    t_prev = -1e12
    z = rng.normal(size=(n, 3))
    u = rng.random((n, 4))
    for i in range(n):
        s_ = src[i]
        pl = places[i]
        if s_ == SRC_GNSS or s_ == SRC_RARE:
            sg = sig[i] if s_ == SRC_GNSS else 15.0
            rho = math.exp(-(ts[i] - t_prev) / tau)
            e = rho * e + math.sqrt(1 - rho * rho) * sg * z[i, :2]
            t_prev = ts[i]
            dx, dy = e[0], e[1]
            a = 1.5 * sg * math.exp(0.3 * z[i, 2])
            if sg >= 6 and u[i, 0] < 0.04:  # multipath in a street canyon, under-reported
                m = 25 + 55 * u[i, 1]
                th = 2 * math.pi * u[i, 2]
                dx += m * math.cos(th)
                dy += m * math.sin(th)
                a *= 1.3
            acc[i] = max(3.0 if not ios else 4.7, a)
        elif s_ == SRC_WIFI:
            w = pl.wifi if pl is not None else (0.0, 0.0)
            dx = w[0] + 8 * z[i, 0]
            dy = w[1] + 8 * z[i, 1]
            if pl is not None and pl.phantom is not None and u[i, 0] < 0.2:
                dx += pl.phantom[0]
                dy += pl.phantom[1]
            if ios:
                acc[i] = 65.0 if u[i, 1] < 0.55 else 25 + 75 * u[i, 2]
            else:
                acc[i] = 12 + 28 * u[i, 2] + 0.3 * math.hypot(w[0], w[1])
        elif s_ == SRC_CELL:
            m = 150 + 750 * u[i, 0]
            th = 2 * math.pi * u[i, 1]
            dx, dy = m * math.cos(th), m * math.sin(th)
            acc[i] = 1414.0 if (ios and u[i, 2] < 0.4) else 400 + 1600 * u[i, 3]
        else:  # coarse: first fix after a wake-up, underground station
            m = 30 + 320 * u[i, 0] ** 2
            th = 2 * math.pi * u[i, 1]
            dx, dy = m * math.cos(th), m * math.sin(th)
            acc[i] = max(50.0, m * (0.7 + 1.3 * u[i, 2]))
        if pl is not None:
            dx += 4 * z[i, 1]
            dy += 4 * z[i, 0]
        ex[i], ny[i] = dx, dy
    # injected wrong fixes: 100-1000 m, plausible accuracy, sometimes in short bursts
    nj = rng.binomial(n, prof["jump_rate"]) if n else 0
    for i0 in rng.choice(n, size=nj, replace=False) if nj else []:
        m = rng.uniform(100, 1000)
        th = rng.uniform(0, 2 * math.pi)
        for j in range(int(rng.choice([1, 1, 1, 2, 3]))):
            i = int(i0) + j
            if i >= n:
                break
            ex[i] = m * math.cos(th) + rng.normal(0, 15)
            ny[i] = m * math.sin(th) + rng.normal(0, 15)
            acc[i] = rng.uniform(8, 65)
    coslat = np.cos(np.radians(tlat))
    lat = tlat + np.degrees(ny / R_E)
    lon = tlon + np.degrees(ex / (R_E * coslat))
    err = hav(tlat, tlon, lat, lon)
    jump = err > 100.0
    legs = []
    for p in pieces:
        if isinstance(p, Leg) and p.n > 0:
            legs.append(dict(start=float(p.t0), end=float(p.t1), kind=p.kind, mode=int(p.mode),
                             distance_m=float(p.dist)))
    life.truth = dict(lat=tlat, lon=tlon, src=src, err=err)
    return GroundTruth(ts=ts, lat=lat, lon=lon, accuracy=np.round(acc, 1), mode=mode, waiting=waiting,
                       jump=jump, stay_idx=stay_idx, true_stays=true_stays, legs=legs,
                       blackouts=[(float(a), float(b)) for a, b in blackouts], params={})


# --------------------------------------------------------------------------- entry points


def simulate(seed: int, days: int = 45) -> tuple[GroundTruth, Life]:
    """generate() plus the simulated life (per-second truth of every leg) for tests."""
    if days < 3:
        raise ValueError("days must be >= 3")
    ss = np.random.SeedSequence([4, int(seed)])
    r_world, r_life, r_phone, r_noise = (np.random.default_rng(s) for s in ss.spawn(4))
    city = CITY_ORDER[(int(seed) - 1) % len(CITY_ORDER)]
    world = World(r_world, city)
    d0 = date(2023, 1, 2) + timedelta(days=int(r_life.integers(0, 1000)))
    naive = datetime(d0.year, d0.month, d0.day, tzinfo=UTC).timestamp()
    start = int(local_to_utc(world.home.zone, naive))
    life = Life(r_life, world, start, d0, days)
    prof = phone_profile(r_phone)
    life.run(prof)
    blackouts, saver, habits = _blackouts(r_phone, life, prof)
    lg = Logger(r_phone, prof, saver, start, life.home)
    for pid, p in enumerate(life.pieces):
        if isinstance(p, Stay):
            lg.stay(pid, p)
        else:
            lg.leg(pid, p)
    gt = _assemble(r_noise, life, prof, lg.fixes, blackouts, seed)
    P = life.person
    gt.params = dict(
        seed=int(seed), days=int(days), generator="gen4", city=city, zone=world.home.zone,
        country=world.C["country"], start_utc=float(start), end_utc=float(life.end_utc),
        start_date=d0.isoformat(),
        home=dict(lat=life.home.lat, lon=life.home.lon), work=dict(lat=life.work.lat, lon=life.work.lon),
        person={k: v for k, v in P.items()}, phone=prof, habits=habits,
        saver=[(float(a), float(b)) for a, b in saver],
        calendar=list(life.calendar), abroad=life.info.get("abroad"),
        parents_city=life.info.get("parents", {}).get("city"),
        lines={k: sum(1 for ln in world.lines if ln.kind == k) for k in V_AVG},
    )
    return gt, life


def generate(seed: int, days: int = 45) -> GroundTruth:
    """One person's logged fixes with per-fix truth; deterministic per seed."""
    return simulate(seed, days)[0]
