"""Run trackintel's generate_staypoints on a CSV of points; print one JSON line.

Runs inside bench/.venv-trackintel (trackintel 1.4.2 and its geopandas stack), never in
trackdesk's venv. Only the generate_staypoints call is timed; building the GeoDataFrame
is not. argv: CSV_IN JSON_OPTIONS [CSV_OUT]. The CSV has columns ts, lat, lon (UTC s).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings

import geopandas as gpd
import pandas as pd
import trackintel as ti


def main() -> None:
    src, opts = sys.argv[1], json.loads(sys.argv[2])
    out = sys.argv[3] if len(sys.argv) > 3 else None
    df = pd.read_csv(src)
    df["tracked_at"] = pd.to_datetime(df["ts"], unit="s", utc=True)
    df["user_id"] = 0
    gdf = gpd.GeoDataFrame(df[["user_id", "tracked_at"]],
                           geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    pfs = ti.Positionfixes(gdf) if hasattr(ti, "Positionfixes") else gdf
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    c0 = time.process_time()
    _, sp = ti.preprocessing.generate_staypoints(
        pfs, method="sliding", dist_threshold=opts.get("dist", 100),
        time_threshold=opts.get("time_min", 5.0), gap_threshold=opts.get("gap_min", 15.0),
        include_last=opts.get("include_last", False), exclude_duplicate_pfs=False)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if out:
        pd.DataFrame({"started_at": sp["started_at"].astype("int64") / 1e9,
                      "finished_at": sp["finished_at"].astype("int64") / 1e9}).to_csv(
            out, index=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "staypoints": int(len(sp)), "points": int(len(df)),
                      "peak_rss_mb": rss, "version": ti.__version__,
                      "pandas": pd.__version__, "geopandas": gpd.__version__}))


if __name__ == "__main__":
    main()
