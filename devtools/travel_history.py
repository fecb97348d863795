"""Travel histories across time zones: the local-day tests (skills and views) and the
timeline screenshot across zones (``devtools.zone_screenshots``).

Built from plain arithmetic: stays with GPS noise at real places and flights along the
great circle at airliner speed, one fix a minute (phones log in flight by the window).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

DEG = np.pi / 180.0
R = 6_371_000.0

TOKYO = (35.6812, 139.7671)
SAN_FRANCISCO = (37.7793, -122.4193)
LOS_ANGELES = (33.9416, -118.4085)
SYDNEY = (-33.8688, 151.2093)
NEW_YORK = (40.7128, -74.0060)


def at(zone: str, *args: int) -> float:
    """Unix time of a local wall-clock time in ``zone``: at('Asia/Tokyo', 2026, 7, 1, 9)."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def stay(place: tuple[float, float], t0: float, t1: float, step: float = 120.0,
         seed: int = 0) -> np.ndarray:
    """(ts, lat, lon) rows at one place, 5 m of noise."""
    rng = np.random.default_rng(seed)
    ts = np.arange(t0, t1, step)
    lat = place[0] + rng.normal(0, 5, len(ts)) / (R * DEG)
    lon = place[1] + rng.normal(0, 5, len(ts)) / (R * DEG * np.cos(place[0] * DEG))
    return np.column_stack([ts, lat, lon])


def flight(a: tuple[float, float], b: tuple[float, float], t0: float,
           speed: float = 250.0, step: float = 60.0) -> tuple[np.ndarray, float]:
    """Fixes along the great circle from a to b at ``speed``; returns them and the landing."""
    la1, lo1, la2, lo2 = a[0] * DEG, a[1] * DEG, b[0] * DEG, b[1] * DEG
    p1 = np.array([np.cos(la1) * np.cos(lo1), np.cos(la1) * np.sin(lo1), np.sin(la1)])
    p2 = np.array([np.cos(la2) * np.cos(lo2), np.cos(la2) * np.sin(lo2), np.sin(la2)])
    omega = float(np.arccos(np.clip(p1 @ p2, -1.0, 1.0)))
    duration = omega * R / speed
    ts = np.arange(t0, t0 + duration, step)
    f = (ts - t0) / duration
    pts = (np.sin((1 - f) * omega)[:, None] * p1 + np.sin(f * omega)[:, None] * p2) / np.sin(omega)
    lat = np.arcsin(pts[:, 2]) / DEG
    lon = np.arctan2(pts[:, 1], pts[:, 0]) / DEG
    return np.column_stack([ts, lat, lon]), t0 + duration


def insert(conn: sqlite3.Connection, *parts: np.ndarray) -> int:
    rows = np.concatenate(parts)
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?,?,?,?,?)",
                     [(float(t), float(a), float(o), 5.0, "test") for t, a, o in rows])
    conn.execute("COMMIT")
    return len(rows)


def tokyo_then_san_francisco() -> tuple[list[np.ndarray], float]:
    """Tokyo 1-3 July 2026 (a hotel, a day out each day), the 17:00 flight on 3 July
    (JST), landing in San Francisco the same date's morning, an afternoon there; the
    history ends that evening. Returns the parts and the landing time."""
    z = "Asia/Tokyo"
    out = 35.6586, 139.7454  # Tokyo Tower, a few km from the hotel
    parts = []
    for d, seed in ((1, 1), (2, 2), (3, 3)):
        parts.append(stay(TOKYO, at(z, 2026, 7, d, 8), at(z, 2026, 7, d, 10), seed=seed))
        parts.append(stay(out, at(z, 2026, 7, d, 10, 30), at(z, 2026, 7, d, 14), seed=seed))
        end = at(z, 2026, 7, d, 16) if d == 3 else at(z, 2026, 7, d, 23, 59)
        parts.append(stay(TOKYO, at(z, 2026, 7, d, 14, 30), end, seed=seed + 10))
    fl, landed = flight(TOKYO, SAN_FRANCISCO, at(z, 2026, 7, 3, 17))
    parts.append(fl)
    parts.append(stay(SAN_FRANCISCO, landed + 600, at("America/Los_Angeles", 2026, 7, 3, 20),
                      seed=9))
    return parts, landed


def great_circle_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    _, end = flight(a, b, 0.0, speed=1.0, step=1e9)
    return end


def tokyo_then_san_francisco_week() -> list[np.ndarray]:
    """The same trip with four days in San Francisco after it (3-6 July, local)."""
    parts, landed = tokyo_then_san_francisco()
    parts = parts[:-1]
    la = "America/Los_Angeles"
    pier = 37.8087, -122.4098  # Fisherman's Wharf, ~3 km from the hotel
    parts.append(stay(SAN_FRANCISCO, landed + 600, at(la, 2026, 7, 3, 13), seed=9))
    parts.append(stay(pier, at(la, 2026, 7, 3, 14), at(la, 2026, 7, 3, 19), seed=19))
    parts.append(stay(SAN_FRANCISCO, at(la, 2026, 7, 3, 20), at(la, 2026, 7, 4, 10), seed=29))
    for d in (4, 5, 6):
        parts.append(stay(pier, at(la, 2026, 7, d, 10, 40), at(la, 2026, 7, d, 17), seed=d))
        parts.append(stay(SAN_FRANCISCO, at(la, 2026, 7, d, 18),
                          at(la, 2026, 7, d + 1, 10) if d < 6 else at(la, 2026, 7, d, 22),
                          seed=d + 40))
    return parts


def night_flight(a: tuple[float, float], za: str, b: tuple[float, float], zb: str,
                 land_day: int) -> tuple[list[np.ndarray], float, float]:
    """A day at ``a`` (1 July 2026), a flight leaving 23:00 local and landing at 07:00
    local on ``land_day`` of July, a morning at ``b``. Returns the parts, take-off and
    landing."""
    t_off = at(za, 2026, 7, 1, 23)
    t_land = at(zb, 2026, 7, land_day, 7)
    parts = [stay(a, at(za, 2026, 7, 1, 10), t_off - 1800, seed=4)]
    fl, landed = flight(a, b, t_off, speed=great_circle_m(a, b) / (t_land - t_off))
    parts.append(fl)
    parts.append(stay(b, landed + 600, landed + 6 * 3600, seed=5))
    return parts, t_off, landed
