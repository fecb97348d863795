"""Place names, countries and time zones, offline (issue 21), on real logs from Beijing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.skills.chain import connect, new_db, run_chain, run_skill
from tests.skills.helpers import T0, cat, insert, line, stay
from tests.tracks.conftest import run_import

BEIJING = Path(__file__).resolve().parents[1] / "data" / "geolife" / "beijing_001.csv"


@pytest.fixture(scope="module")
def beijing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = new_db(tmp_path_factory.mktemp("bj") / "tracks.db")
    outcome = run_import(path, [BEIJING])
    assert outcome.ok, outcome.error
    # Nights and working days in the person's own time (Beijing's), not the UTC the other
    # tests use: home is where the nights are (issue 20).
    run_chain(path, params={"stay_stats": {"timezone": "auto"}})
    return path


def test_every_place_in_beijing_has_a_name_and_country_cn(beijing: Path) -> None:
    conn = connect(beijing)
    rows = conn.execute("SELECT id, name, locality, country_code, label FROM places").fetchall()
    assert len(rows) >= 3
    assert all(r[1] for r in rows), rows
    assert {r[3] for r in rows} == {"CN"}
    # the locality is GeoNames' nearest town or district: Beijing's own districts
    assert all(r[2] for r in rows)
    assert {r[2] for r in rows} & {"Haidian", "Beijing", "Chaoyang", "Xicheng", "Dongcheng"}
    # home keeps its label beside the name
    assert any(r[4] == "home" for r in rows)


def test_every_beijing_point_is_in_asia_shanghai(beijing: Path) -> None:
    conn = connect(beijing)
    n = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    zones = conn.execute("SELECT tz, COUNT(*) FROM point_analysis GROUP BY tz").fetchall()
    assert n == 20_766
    assert dict(zones).get("Asia/Shanghai") == n + conn.execute(
        "SELECT COUNT(*) FROM synthetic_points").fetchone()[0], zones


def _two_places(tmp_path: Path) -> Path:
    """A morning at one spot, a walk of 2 km east, an afternoon at another (Munich)."""
    path = new_db(tmp_path / "tracks.db")
    conn = connect(path)
    a = stay(T0, 4 * 3600, 60)
    b = line(T0 + 4 * 3600, 1500, 10, 1.4)
    c = stay(T0 + 4 * 3600 + 1510, 4 * 3600, 60, east=2100, seed=1)
    insert(conn, *cat(a, b, c))
    conn.close()
    run_chain(path)
    return path


def _annotate(conn: sqlite3.Connection, start: float, end: float, kind: str, value: str,
              lat: float | None = None, lon: float | None = None) -> None:
    conn.execute("INSERT INTO annotations (start_ts, end_ts, kind, value, source, lat, lon, "
                 "created_at) VALUES (?, ?, ?, ?, 'google', ?, ?, 0)",
                 (start, end, kind, value, lat, lon))


def test_a_google_place_visit_names_the_place_else_the_gazetteer_does(tmp_path: Path) -> None:
    path = _two_places(tmp_path)
    conn = connect(path)
    before = dict(conn.execute("SELECT id, name FROM places"))
    assert len(before) == 2 and all(before.values())
    first, second = sorted(before)
    # A place visit of the first stay (by time; Google gives the venue's own position).
    _annotate(conn, T0 + 600, T0 + 3 * 3600, "place", "Café Frischhut")
    _annotate(conn, T0 + 600, T0 + 3 * 3600, "semantic", "HOME")
    run_skill(path, "stay_stats", "FULL_RECOMPUTE")
    after = dict(conn.execute("SELECT id, name FROM places"))
    codes = {r[0] for r in conn.execute("SELECT country_code FROM places")}
    assert after[first] == "Café Frischhut"
    assert after[second] == before[second]  # from the gazetteer, a Munich district
    assert codes == {"DE"}
    # locality of the user-named place is still the gazetteer's town
    assert conn.execute("SELECT locality FROM places WHERE id = ?", (first,)).fetchone()[0]


def test_a_correction_wins_over_the_imported_name(tmp_path: Path) -> None:
    path = _two_places(tmp_path)
    conn = connect(path)
    first = conn.execute("SELECT MIN(id) FROM places").fetchone()[0]
    _annotate(conn, T0 + 600, T0 + 3 * 3600, "place", "Café Frischhut")
    from trackdesk.tracks import corrections

    undone = corrections.add(conn, "rename_place", value="Grandma's", target_ids=[first])
    corrections.add(conn, "rename_place", value="Oma", target_ids=[first])
    corrections.undo(conn, undone["id"])
    run_skill(path, "stay_stats", "FULL_RECOMPUTE")
    assert conn.execute("SELECT name FROM places WHERE id = ?", (first,)).fetchone()[0] == "Oma"


def test_places_sharing_a_town_name_are_told_apart_by_where_they_lie() -> None:
    # Three places of one person in Beijing's Haidian district (its GeoNames point, 2.5
    # km north-west of one, 3.5 km west of another) and one in Munich. A list of top
    # places that says "Haidian" three times cannot be read; each says where it lies.
    from trackdesk.geodata.naming import name_places

    conn = sqlite3.connect(":memory:")
    names = name_places(conn, [(1, 39.98126, 116.32791, 50.0), (2, 39.9905, 116.2890, 50.0),
                               (3, 39.97, 116.30, 50.0), (4, 48.137, 11.575, 50.0)])
    assert names[2].name == "Haidian"  # at the district's own point
    assert names[1].name == "Haidian, 3.5 km E"
    assert names[3].name == "Haidian, 2.5 km SE"
    assert names[4].name == "Munich"  # alone under its name
    assert {n.locality for k, n in names.items() if k != 4} == {"Haidian"}


def test_towns_are_remembered_so_a_rerun_names_the_same_without_the_gazetteer(
        beijing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading GeoNames costs a second or more on every stay_stats run (most of an
    # INCREMENTAL run after an import). The towns asked about are remembered in tracks.db:
    # the next run names every place the same without loading it.
    from trackdesk.geodata import naming

    conn = connect(beijing)
    places = conn.execute("SELECT id, lat, lon, radius_m FROM places ORDER BY id").fetchall()
    before = {pid: (n.name, n.locality, n.country_code)
              for pid, n in naming.name_places(conn, places).items()}
    assert naming.towns_known(conn, [(p[1], p[2]) for p in places])
    monkeypatch.setattr(naming, "_GEOCODE_DATA", None)

    def no_gazetteer(self: object) -> None:
        raise AssertionError("the gazetteer was loaded although every town is remembered")

    monkeypatch.setattr(naming.Gazetteer, "__init__", no_gazetteer)
    naming.warm_up(conn, places)
    again = {pid: (n.name, n.locality, n.country_code)
             for pid, n in naming.name_places(conn, places).items()}
    assert again == before
    # A damaged memory is only forgotten: the gazetteer answers again, the same.
    monkeypatch.undo()
    conn.execute("UPDATE skill_inputs SET fingerprint = '{not json' WHERE skill = ?",
                 (naming.TOWNS_KEY,))
    assert not naming.towns_known(conn, [(p[1], p[2]) for p in places])
    assert {pid: (n.name, n.locality, n.country_code)
            for pid, n in naming.name_places(conn, places).items()} == before
    conn.rollback()


def test_a_stay_at_sea_has_no_country_and_a_remote_one_says_how_far_its_town_is() -> None:
    # A ferry or cruise stay 156 km off Algeria is not in Algeria (the Countries view
    # counted it there), and "Jijel" alone would put it in a town it is nowhere near.
    from trackdesk.geodata.naming import name_places

    conn = sqlite3.connect(":memory:")
    places = [(1, 38.2064, 5.4561, 50.0),   # the Mediterranean between Sardinia and Jijel
              (2, 23.0, 12.0, 50.0),        # the Sahara, in Niger, 280 km from a town
              (3, 48.137, 11.575, 50.0),    # Munich
              (4, 54.182, 7.886, 50.0)]     # Helgoland: an island town, in Germany
    names = name_places(conn, places)
    assert names[1].name.startswith("Jijel, ") and names[1].name.endswith(" km N")
    assert (names[1].country_code, names[1].locality) == ("", "")
    assert names[2].country_code == "NE" and " km " in names[2].name
    assert (names[3].name, names[3].country_code) == ("Munich", "DE")
    assert names[4].country_code == "DE" and " km " not in names[4].name
    from trackdesk.geodata.dwell import country_name

    assert country_name("") == "no country (at sea, or not known)"
