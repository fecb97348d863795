"""stay_stats: places (stays clustered within a radius), visits, dwell, home and work.

Stays are clustered in time order: a stay joins the nearest place whose centre (running
mean of its stays) is within ``place_radius_m``, else it founds a new place. A place's id
is the id of its first stay; the user's merge_places corrections join places (the first
id of the group stays). ``home`` is the place where the person spent the most distinct
nights (at least 3 h of 22:00-06:00 local time), if that is at least 2 nights and a fifth
of the nights we know of; ``work`` the other place with the most distinct working days
(at least 2 h of weekday 09:00-17:00), at least 2 and a fifth of the known working days.
Local time is the zone where each stay is (``timezone`` 'auto', the default: a Tokyo home
has Tokyo's nights on any computer), a fixed IANA zone, or this computer's ('local').

Places are few (hundreds for years of data) and a new stay can move a place's centre, so
every run, INCREMENTAL too, re-clusters all stays from ``stay_detections``: it never
reads points, costs milliseconds and equals a full recompute by construction.
"""

from __future__ import annotations

from typing import Any

from trackdesk.skills.labels import active_corrections
from trackdesk.skills.place_naming import name_places_and_zones, warm_up
from trackdesk.skills.places import build_places
from trackdesk.skills.store import Plan, SkillRun, run_skill
from trackdesk.worker import WorkerContext

NAME = "stay_stats"
VERSION = "1.3.0"  # 1.3: towns asked at the 0.001° cell of a place, remembered in tracks.db;
# a place at sea has no country, one far from its town says how far
# 1.2: places under one town name told apart by where they lie
# 1.1: home/work from many nights and working days in each stay's
# own zone (issues 20, 21); merge_places


def _body(run: SkillRun, plan: Plan) -> dict[str, Any]:
    ctx, conn = run.ctx, run.conn
    stays = conn.execute("SELECT id, start_ts, end_ts, lat, lon FROM stay_detections "
                         "ORDER BY start_ts").fetchall()
    run.loaded(len(stays))
    merges = [c.target_ids for c in active_corrections(conn, ("merge_places",))]
    places, links = build_places(stays, ctx.params["place_radius_m"], ctx.params["timezone"],
                                 merges)
    run.computing(0.5)
    warm_up(conn, places)
    run.computing(1.0)
    run.begin()
    conn.execute("DELETE FROM places")
    conn.execute("DELETE FROM place_stays")
    conn.executemany(
        "INSERT INTO places (id, lat, lon, n_visits, total_dwell_s, first_visit_ts, "
        "last_visit_ts, label, night_dwell_s, work_dwell_s, radius_m) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", places)
    conn.executemany("INSERT INTO place_stays (stay_id, place_id) VALUES (?, ?)", links)
    geo = name_places_and_zones(conn)  # issue 21: names, countries, time zones (offline)
    run.finish(plan, plan.t0 if plan.t0 is not None else 0.0)
    labels = {p[7]: p[0] for p in places if p[7]}
    return run.summary(plan, stays=len(stays), places=len(places), home_place_id=labels.get(
        "home"), work_place_id=labels.get("work"), **geo)


def run(ctx: WorkerContext) -> dict[str, Any]:
    return run_skill(ctx, NAME, VERSION, _body)
