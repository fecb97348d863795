"""Tiny hand-made tracks for behaviour tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from tests.skills.chain import connect, new_db
from trackdesk.skills.geo import DEG, EARTH_RADIUS_M

T0 = 1_767_225_600.0
LAT0, LON0 = 48.137, 11.575


def offset(east_m: np.ndarray | float, north_m: np.ndarray | float
           ) -> tuple[np.ndarray, np.ndarray]:
    lat = LAT0 + np.asarray(north_m) / (EARTH_RADIUS_M * DEG)
    lon = LON0 + np.asarray(east_m) / (EARTH_RADIUS_M * DEG * np.cos(LAT0 * DEG))
    return lat, lon


def insert(conn: sqlite3.Connection, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray,
           accuracy: float | None = 5.0) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO points (ts, lat, lon, accuracy, source) VALUES (?,?,?,?,?)",
                     [(float(t), float(a), float(o), accuracy, "test")
                      for t, a, o in zip(ts, lat, lon, strict=True)])
    conn.execute("COMMIT")


def stay(t0: float, duration: float, step: float, east: float = 0.0, north: float = 0.0,
         noise: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.arange(t0, t0 + duration, step)
    lat, lon = offset(east + rng.normal(0, noise, len(ts)), north + rng.normal(0, noise, len(ts)))
    return ts, lat, lon


def line(t0: float, duration: float, step: float, speed: float, east0: float = 0.0,
         noise: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.arange(t0, t0 + duration, step)
    east = east0 + speed * (ts - t0) + rng.normal(0, noise, len(ts))
    lat, lon = offset(east, rng.normal(0, noise, len(ts)))
    return ts, lat, lon


def cat(*parts: tuple[np.ndarray, np.ndarray, np.ndarray]
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def track_db(path: Path, track: tuple[np.ndarray, np.ndarray, np.ndarray],
             accuracy: float | None = 5.0) -> Path:
    """A fresh tracks.db at ``path`` holding ``track``'s points."""
    new_db(path)
    conn = connect(path)
    try:
        insert(conn, *track, accuracy=accuracy)
    finally:
        conn.close()
    return path


def query(path: Path, sql: str, *args: object) -> list[tuple]:
    """All rows of one query on the tracks.db at ``path``."""
    conn = connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
