"""TCX (Garmin Training Center XML): ``Trackpoint`` elements, streamed with lxml.

Each Trackpoint has ``Time`` and usually ``Position/LatitudeDegrees`` and
``LongitudeDegrees``; points without a position (heart rate only, indoor) are rejected as
having no coordinates. ``AltitudeMeters`` and the ``Speed`` of the activity extension
are kept; heart rate and cadence are not location data and are skipped.
"""

from __future__ import annotations

from typing import IO

from lxml import etree

from trackdesk.tracks.base import R_BAD_COORD, R_BAD_TIME, Points, opt_float
from trackdesk.tracks.gpx import check_root, iter_xml, xml_failure

COLUMNS = ("altitude", "speed")


def read(stream: IO[bytes], out: Points) -> None:
    it = iter_xml(stream, ("{*}Trackpoint",))
    n = 0
    try:
        for _, tp in it:
            ts = lat = lon = alt = speed = None
            bad_time = False
            for el in tp.iter():
                tag = el.tag
                if not isinstance(tag, str):
                    continue
                local = tag.rsplit("}", 1)[-1]
                if local == "Time":
                    ts = out.times((el.text or "").strip())
                    bad_time = ts is None
                elif local == "LatitudeDegrees":
                    lat = el.text
                elif local == "LongitudeDegrees":
                    lon = el.text
                elif local == "AltitudeMeters":
                    alt = opt_float(el.text)
                elif local == "Speed":
                    speed = opt_float(el.text)
            if bad_time:
                out.reject(R_BAD_TIME)
            elif lat is None or lon is None:
                out.reject("no position (indoor or sensor-only point)" if ts is not None
                           else R_BAD_COORD)
            else:
                out.add(ts, lat.strip(), lon.strip(), alt, speed)
            tp.clear(keep_tail=False)
            n += 1
            if n % 512 == 0:
                parent = tp.getparent()
                if parent is not None:
                    del parent[:-1]
    except etree.XMLSyntaxError as exc:
        raise xml_failure(exc, "TCX") from None
    check_root(it, "TrainingCenterDatabase", "TCX")
