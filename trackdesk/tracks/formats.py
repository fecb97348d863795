"""The format registry: which files trackdesk can import, found in folders and zips.

``expand(paths)`` is what drag-and-drop, the CLI and the import worker call: it walks
folders, looks inside ``.zip`` archives, recognises each file by its extension and its
first bytes, and returns the importable files plus every other file with the reason it
is not imported. It reads at most a few KB of each file.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SNIFF_BYTES = 16384


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    module: str
    function: str = "read"

    def reader(self) -> tuple[Callable[[IO[bytes], Any], None], tuple[str, ...]]:
        """The module's read function and the extra columns its rows carry."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.function), getattr(mod, "COLUMNS", ())


FORMATS: dict[str, Format] = {f.name: f for f in (
    # gpxtype wraps gpx.read, keeping <trk><type> as an annotation (issue 19).
    Format("gpx", "GPX 1.0/1.1", "trackdesk.tracks.gpxtype"),
    Format("kml", "KML", "trackdesk.tracks.kml"),
    Format("kmz", "KMZ (zipped KML)", "trackdesk.tracks.kml", "read_kmz"),
    Format("geojson", "GeoJSON", "trackdesk.tracks.geojson"),
    Format("csv", "CSV (一生足迹 export or any CSV with lat/lon/time)",
           "trackdesk.tracks.csvfile"),
    Format("google-records", "Google Takeout Records.json", "trackdesk.tracks.google",
           "read_records"),
    Format("google-semantic", "Google Semantic Location History", "trackdesk.tracks.google",
           "read_semantic"),
    Format("google-timeline", "Google Timeline.json (on-device export)",
           "trackdesk.tracks.google", "read_timeline"),
    Format("fit", "FIT (Garmin and other sports devices)", "trackdesk.tracks.fit"),
    Format("tcx", "TCX (Training Center XML)", "trackdesk.tracks.tcx"),
    Format("owntracks", "OwnTracks .rec", "trackdesk.tracks.owntracks"),
    # Issue 19 (helper importb): more formats; classified by _classify_more().
    Format("plt", "GeoLife / OziExplorer .plt track", "trackdesk.tracks.geolife"),
    Format("geolife-labels", "GeoLife labels.txt (transport modes)",
           "trackdesk.tracks.geolife", "read_labels"),
    Format("trackintel", "trackintel staypoints / triplegs CSV (WKT geometry)",
           "trackdesk.tracks.trackintel"),
    Format("dawarich", "Dawarich data export (JSON)", "trackdesk.tracks.dawarich"),
)}

EXTENSIONS = {".gpx": "gpx", ".kml": "kml", ".kmz": "kmz", ".geojson": "geojson",
              ".csv": "csv", ".tsv": "csv", ".fit": "fit", ".tcx": "tcx", ".rec": "owntracks"}
# (.plt, labels.txt, trackintel CSVs, Dawarich JSON: by content, in _classify_more.)
SNIFFED = {".json", ".xml", ".txt", ""}  # decided by content


@dataclass(frozen=True)
class SourceFile:
    """One importable file: a file on disk, or a member of a zip archive on disk."""

    path: Path
    format: str
    size: int
    member: str = ""

    @property
    def name(self) -> str:
        return f"{self.path}/{self.member}" if self.member else str(self.path)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if not self.member:
            with open(self.path, "rb") as fh:
                yield fh
            return
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
            yield fh

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "member": self.member, "format": self.format,
                "size": self.size, "name": self.name}


@dataclass(frozen=True)
class Skipped:
    """A file or path that will not be imported, and why. ``explicit`` is true for a path
    the user named (dropped or typed) rather than one found inside a folder or zip."""

    name: str
    reason: str
    explicit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "explicit": self.explicit}


_ROOT_RE = re.compile(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)")


def _xml_root(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = text.decode("utf-16", "ignore").encode()
    # Skip comments so a root element inside one is not taken for the real root.
    text = re.sub(rb"<!--.*?-->", b"", text, flags=re.S)
    m = _ROOT_RE.search(text)
    return m.group(1).decode("ascii", "replace").lower() if m else None


def _json_kind(head: bytes) -> str | None:
    if b'"semanticSegments"' in head or b'"rawSignals"' in head \
            or b'"userLocationProfile"' in head:
        return "google-timeline"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[" and b'"startTime"' in head and (
            b'"timelinePath"' in head or b'"visit"' in head or b'"activity"' in head):
        return "google-timeline"  # the iOS export: a top-level array of segments
    if b'"timelineObjects"' in head:
        return "google-semantic"
    # The phone exports in their other shapes: a first segment whose keys come in another
    # order (startTime after a long timelinePath), or only the segments' own keys in the
    # first KB; and semantic history objects outside their "timelineObjects" wrapper.
    if b'"timelinePath"' in head or b'"placeLocation"' in head or (
            b'"geo:' in head and (b'"startTime"' in head or b'"endTime"' in head)):
        return "google-timeline"
    if b'"placeVisit"' in head or b'"activitySegment"' in head:
        return "google-semantic"
    if b'"locations"' in head and (b"E7" in head or head.count(b"{") < 3):
        return "google-records"
    if b'"FeatureCollection"' in head or b'"Feature"' in head or b'"features"' in head:
        return "geojson"
    return None


def classify(name: str, head: bytes) -> tuple[str | None, str]:
    """``(format, "")`` for an importable file, else ``(None, reason)``."""
    ext = os.path.splitext(name)[1].lower()
    if not head.strip():
        # One rule for every format (issue 17): nothing but blanks is no track, whatever
        # the extension promises (an empty .fit used to "complete" with 0 points).
        return None, "an empty file"
    more = _classify_more(ext, head)
    if more is not None:
        return more
    fmt = EXTENSIONS.get(ext)
    if fmt == "csv":
        return _classify_csv(head, ext)
    if fmt is not None:
        return fmt, ""
    if ext in (".zip",):
        return None, "an archive inside an archive: unzip the outer one first"
    if len(head) >= 12 and head[8:12] == b".FIT":
        return "fit", ""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        kind = _json_kind(head)
        if kind:
            return kind, ""
        return None, "a JSON file of no known track kind (GeoJSON or Google location history)"
    if stripped[:1] == b"<" or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        root = _xml_root(head)
        if root in ("gpx", "kml"):
            return root, ""
        if root == "trainingcenterdatabase":
            return "tcx", ""
        from trackdesk.tracks.base import excerpt

        return None, f"an XML file of no known track kind (root <{excerpt(root or '', 40)}>)"
    if re.match(rb"\d{4}-\d\d-\d\dT[\d:]+Z?\t", stripped):
        return "owntracks", ""
    if ext in (".txt", ""):
        fmt, why = _classify_csv(head, ext)
        if fmt:
            return fmt, ""
    if not head:
        return None, "an empty file"
    return None, f"not a track file trackdesk knows ({ext or 'no extension'})"


def _classify_more(ext: str, head: bytes) -> tuple[str | None, str] | None:
    """The formats of issue 19 that the general rules below would refuse or take for
    another: GeoLife/OziExplorer ``.plt``, GeoLife ``labels.txt``, trackintel's
    staypoints/triplegs CSVs, the Dawarich JSON export. None: not one of them."""
    text = head.lstrip(b"\xef\xbb\xbf")
    if ext == ".plt":
        first = text.split(b"\n", 1)[0]
        if b"Track Point File" in first or b"Geolife" in first or b"GeoLife" in first:
            return "plt", ""
        if not text.strip():
            return None, "an empty file"
        return None, ("a .plt file that is not a GeoLife or OziExplorer track (its first "
                      "line is not 'Geolife trajectory' or 'OziExplorer Track Point File')")
    if text.startswith(b"Start Time\tEnd Time\tTransportation Mode"):
        return "geolife-labels", ""
    if ext in (".csv", ".txt", ""):
        from trackdesk.tracks.trackintel import delimiter, is_header

        first = text.decode("utf-8", "ignore").split("\n", 1)[0]
        if is_header(first.strip().split(delimiter(first))):
            return "trackintel", ""
    if ext in (".json", "") and text.lstrip(b" \t\r\n")[:1] == b"{":
        from trackdesk.tracks.dawarich import is_export

        if is_export(head):
            return "dawarich", ""
    return None


def _classify_csv(head: bytes, ext: str) -> tuple[str | None, str]:
    from trackdesk.tracks.csvfile import _dialect, _encoding, is_lifetime_header, recognise

    if not head.strip():
        return None, "an empty file"
    enc = _encoding(head)
    try:
        text = head.decode(enc, errors="ignore")
    except LookupError:  # pragma: no cover - the encodings above all exist
        text = ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    import csv

    try:
        header = next(csv.reader([first], delimiter=_dialect(first)))
    except (csv.Error, StopIteration):
        header = []
    if is_lifetime_header(header):
        return "csv", ""
    cols = recognise(header)
    if _OPTIONS.get():
        # The user named the columns: the reader checks them and says what is wrong.
        return "csv", ""
    if "lat" in cols and "lon" in cols and ("time" in cols or "date" in cols):
        return "csv", ""
    from trackdesk.tracks.csvfile import refusal

    missing = [w for w, k in (("latitude", "lat"), ("longitude", "lon")) if k not in cols]
    if "time" not in cols and "date" not in cols:
        missing.append("time")
    return None, f"a {ext or 'text'} file: " + refusal(header, cols, missing)


def _hidden(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return any(p.startswith(".") or p == "__MACOSX" for p in parts if p)


def _sniff_file(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SNIFF_BYTES)


def _expand_zip(path: Path, explicit: bool, files: list[SourceFile],
                skipped: list[Skipped]) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            for info in sorted(infos, key=lambda i: i.filename):
                name = f"{path}/{info.filename}"
                if _hidden(info.filename):
                    continue
                if info.flag_bits & 0x1:
                    skipped.append(Skipped(name, "encrypted inside the zip"))
                    continue
                why = unsafe_member(info)
                if why:
                    skipped.append(Skipped(name, why))
                    continue
                try:
                    with zf.open(info) as fh:
                        head = fh.read(SNIFF_BYTES)
                except Exception as exc:  # noqa: BLE001 - any damage: say so, go on
                    skipped.append(Skipped(name, f"cannot be read from the zip: {exc}"))
                    continue
                fmt, why = classify(info.filename, head)
                if fmt:
                    files.append(SourceFile(path, fmt, info.file_size, info.filename))
                else:
                    skipped.append(Skipped(name, why))
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds on a damaged archive
        skipped.append(Skipped(str(path), f"not a readable zip archive ({exc})", explicit))


# A zip member that would expand past this many times its compressed size, once it is
# bigger than ZIP_RATIO_FROM bytes, is refused unread (a zip bomb: a 1 MB zip holding a
# 1 GiB line). Real track files compress 3-30 times (GPX, CSV, JSON: repeated tags and
# digits); 200 leaves a wide margin. zipfile never yields more than a member's declared
# size, so the declared sizes are the bound.
ZIP_MAX_RATIO = 200
ZIP_RATIO_FROM = 64 << 20


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be read (a symbolic link, a zip bomb), or None."""
    if stat.S_ISLNK(info.external_attr >> 16):
        # Its data is a path: never followed, out of the archive or not.
        return "a symbolic link inside the zip: links are not followed"
    if info.file_size > ZIP_RATIO_FROM and \
            info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
        return (f"expands {info.file_size / max(info.compress_size, 1):.0f} times "
                f"({info.compress_size / 1e6:.1f} MB to {info.file_size / 1e6:.0f} MB): "
                f"refused as a likely zip bomb (more than {ZIP_MAX_RATIO} times)")
    return None


def _outside(path: Path, root: Path) -> bool:
    """True when ``path`` (found under ``root``) is, or passes through, a link leading
    out of ``root``: what the user named is all that is read (issue 17)."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return True
    return not real.is_relative_to(root)


def _expand_file(path: Path, explicit: bool, files: list[SourceFile],
                 skipped: list[Skipped]) -> None:
    try:
        st = path.stat()
        size = st.st_size
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
            skipped.append(Skipped(str(path), "not a regular file", explicit))
            return
        head = _sniff_file(path)
    except OSError as exc:
        skipped.append(Skipped(str(path), f"cannot be read ({exc.strerror or exc})", explicit))
        return
    # Only a .zip is opened as an archive: .docx, .xlsx, .apk are zips too, and are not
    # track folders.
    if path.suffix.lower() == ".zip":
        _expand_zip(path, explicit, files, skipped)
        return
    fmt, why = classify(path.name, head)
    if fmt:
        files.append(SourceFile(path, fmt, size))
    else:
        skipped.append(Skipped(str(path), why, explicit))


def expand(paths: Iterable[str | os.PathLike[str]], options: dict[str, str] | None = None
           ) -> tuple[list[SourceFile], list[Skipped]]:
    """Every importable file under ``paths`` (files, folders, zips) and the rest, with why.

    Folders are walked recursively in name order; hidden files and folders and macOS
    ``__MACOSX`` metadata are passed over silently. A path given twice is listed once.
    Links inside a folder that lead out of it, and links inside zips, are never followed.
    ``options``: the import's reader options (CSV column names), which decide whether a
    CSV with unusual column names is a track file.
    """
    token = _OPTIONS.set(dict(options or {}))
    try:
        return _expand(paths)
    finally:
        _OPTIONS.reset(token)


_OPTIONS: ContextVar[dict[str, str] | None] = ContextVar("trackdesk_import_options",
                                                        default=None)


def _expand(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[SourceFile], list[Skipped]]:
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            path = path.resolve()
        except OSError:
            pass
        if path.is_dir():
            for root, dirs, names in os.walk(path):  # never descends into a linked folder
                for d in dirs:
                    if not _hidden(d) and os.path.islink(os.path.join(root, d)):
                        skipped.append(Skipped(os.path.join(root, d), "a link to a folder: "
                                               "links inside a folder are not followed"))
                dirs[:] = sorted(d for d in dirs if not _hidden(d)
                                 and not os.path.islink(os.path.join(root, d)))
                for n in sorted(names):
                    if _hidden(n):
                        continue
                    if _outside(Path(root) / n, path):
                        skipped.append(Skipped(os.path.join(root, n), "a link to outside the "
                                               "folder: not followed"))
                        continue
                    _expand_file(Path(root) / n, False, files, skipped)
        elif path.is_file():
            _expand_file(path, True, files, skipped)
        elif path.exists():
            skipped.append(Skipped(str(path), "not a regular file", True))
        else:
            skipped.append(Skipped(str(raw), "no such file or folder", True))
    seen: set[tuple[Path, str]] = set()
    unique = []
    for f in files:
        if (f.path, f.member) not in seen:
            seen.add((f.path, f.member))
            unique.append(f)
    return unique, skipped
