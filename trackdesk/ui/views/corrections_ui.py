"""Corrections in the window (issue 20, item 3): the user's say over the analysis.

Right-click a trip or a stay in the timeline, a place or a selection of points on the
map: "This was a train", "Split trip here", "Merge with next stay", "Rename place…",
"Mark points as wrong"… Each choice stores one row in tracks.db's ``corrections`` table
(``trackdesk.tracks.corrections``: who, when, what; nothing else is edited), then runs
the skills that apply it, and whatever depends on them, as an INCREMENTAL chain through
the engine (a changed correction makes that skill recompute in full, its downstream
follows from the skill changes log). The views refresh when those tasks complete.

Edit → Undo / Redo correction (Ctrl+Z / Ctrl+Shift+Z) and the "Your corrections" dock
take corrections back and put them in force again; the history stays in the table.

Writes never run on the GUI thread: ``CorrectionWriter`` is the write twin of the views'
``Loader`` (one worker thread, a short-lived writable sqlite3 connection per write, the
result back through the Loader's queued delivery, dropped when the database was switched
meanwhile).
A write that fails (a read-only disk, a locked or broken database, a refused correction)
is said once, in one message box, and nothing is stored.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QRubberBand,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from trackdesk.ui.dialogs import alive

log = logging.getLogger(__name__)

# The modes a person picks from, in the order they think of them (MODES is storage order).
MENU_MODES = ("walk", "bike", "car", "bus", "train", "plane", "stationary")
MAX_SELECTED_POINTS = 50_000  # a box selection larger than this asks to zoom in


class _LazyData:
    """``trackdesk.ui.views.data`` on first use: it brings numpy, which the window must
    not wait for at start (the menus are built before any view)."""

    def __getattr__(self, name: str) -> Any:
        from trackdesk.ui.views import data as mod

        return getattr(mod, name)


data: Any = _LazyData()


class CorrectionRefused(Exception):
    """A correction that cannot be made (no next trip, ...): the message is for a person."""


def _clock(ts: float | None, fmt: str = "%a %d %b %Y %H:%M", zone: str | None = None) -> str:
    """``ts`` in ``zone`` (the timeline's: where you were), else this computer's."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, data.zone_info(zone)).strftime(fmt)


def _span_in(a: float | None, b: float | None, zone: str | None = None) -> str:
    if a is None:
        return ""
    first = _clock(a, zone=zone)
    if b is None or b == a:
        return first
    last = _clock(b, zone=zone)
    return first + "–" + (last[-5:] if first[:15] == last[:15] else last)


def short(row: dict[str, Any]) -> str:
    """A few words for the timeline's hover text: 'was a train', 'split here'."""
    if row["kind"] == "mode":
        return "was " + ("stationary" if row.get("value") == "stationary"
                         else f"a {row.get('value')}")
    return {"split_trip": "trip split here", "split_stay": "stay split here",
            "merge_trips": "trips merged", "merge_stays": "stays merged",
            "bad_points": "points marked wrong"}.get(row["kind"], row["kind"])


def describe(row: dict[str, Any], zone: str | None = None) -> str:
    """What a correction said, as a person reads it: 'This was a train, Thu 08 Jan
    2026 07:53–08:28' (times in ``zone``, else this computer's)."""
    kind, value, ids = row["kind"], row.get("value"), list(row.get("target_ids") or [])
    a, b = row.get("start_ts"), row.get("end_ts")

    def _span(x: float | None, y: float | None) -> str:
        return _span_in(x, y, zone)

    if kind == "mode":
        return f"This was {'stationary' if value == 'stationary' else 'a ' + str(value)}, " \
            + _span(a, b)
    if kind == "split_trip":
        return f"Split the trip at {_span(a, None)}"
    if kind == "split_stay":
        return f"Split the stay at {_span(a, None)}"
    if kind == "merge_trips":
        return f"Merge the trips of {_span(a, b)}"
    if kind == "merge_stays":
        return f"Merge the stays of {_span(a, b)}"
    if kind == "rename_place":
        return f"Rename place {ids[0] if ids else '?'} to “{value}”"
    if kind == "merge_places":
        return "Merge places " + " + ".join(str(i) for i in ids) + \
            (f" (place {ids[0]} stays)" if ids else "")
    if kind == "bad_points":
        if ids:
            return f"{len(ids):,} point{'s' if len(ids) != 1 else ''} marked as wrong"
        return f"Points of {_span(a, b)} marked as wrong"
    return kind


def affected_skills(registry: Any, kinds: set[str]) -> list[str]:
    """The default chain's skills a change of these correction kinds touches: those that
    apply them and everything downstream of them, in chain order."""
    from trackdesk.engine.chains import default_chain
    from trackdesk.skills.labels import ALSO_READS, KINDS

    chain = default_chain(registry)
    keep = {KINDS[k] for k in kinds if k in KINDS}
    # Skills that read a kind another skill applies (footprint_stats' home guess follows
    # merged places) rerun too, or they would show the old answer until the next run.
    keep |= {skill for skill, read in ALSO_READS.items() if set(read) & kinds}
    keep &= {n.id for n in chain.nodes}
    grew = True
    while grew:
        more = {b for a, b in chain.links if a in keep and b not in keep}
        keep |= more
        grew = bool(more)
    return [n.id for n in chain.topological_order() if n.id in keep]


def rerun_chain(registry: Any, kinds: set[str]) -> Any:
    """The part of the default chain that applies these kinds (a ``Chain``), or None."""
    from trackdesk.engine.chains import Chain, default_chain

    names = affected_skills(registry, kinds)
    if not names:
        return None
    full = default_chain(registry)
    nodes = [n.copy() for n in full.nodes if n.id in names]
    links = [(a, b) for a, b in full.links if a in names and b in names]
    return Chain("corrections", nodes, links)


# ====================================================================== writing =======
class CorrectionWriter:
    """Writes to tracks.db on one worker thread; results back on the GUI thread.

    ``submit(fn, done, failed)`` runs ``fn(conn)`` with a writable connection opened for
    that write (autocommit; ``fn`` makes its own transaction) and closed after it, so the
    window holds no write connection between corrections. ``failed(message)`` gets a
    sentence for a person. Results come back through the views' ``Loader`` (``later``):
    dropped when another tracks.db was opened meanwhile."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corrections-db")

    def submit(self, fn: Callable[[sqlite3.Connection], Any], done: Callable[[Any], None],
               failed: Callable[[str], None]) -> bool:
        path = self.loader.path
        if path is None:
            failed("No tracks.db is open.")
            return False
        # (the callback, its argument): done with the result, or failed with a sentence
        deliver = self.loader.later(lambda answer: answer[0](answer[1]))

        def job() -> None:
            from trackdesk.tracks.corrections import CorrectionError
            from trackdesk.tracks.db import connect_raw

            try:
                conn = connect_raw(path)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                finally:
                    conn.close()
            except (CorrectionError, CorrectionRefused) as exc:
                deliver((failed, str(exc)))
                return
            except sqlite3.Error as exc:
                log.warning("correction not stored: %s", exc)
                deliver((failed, _sqlite_message(exc, path)))
                return
            except Exception as exc:  # noqa: BLE001 - said once, logged with its traceback
                log.exception("correction not stored")
                deliver((failed, f"{type(exc).__name__}: {exc}"))
                return
            deliver((done, result))

        self._pool.submit(job)
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def _sqlite_message(exc: sqlite3.Error, path: Any) -> str:
    text = str(exc)
    if "readonly" in text.replace("-", "").replace(" ", "") or "read-only" in text:
        return (f"{path} cannot be written to (read-only: {text}). Your correction was not "
                "stored.")
    if "locked" in text or "busy" in text:
        return f"{path} is busy ({text}). Your correction was not stored; try again."
    if "no such table" in text:
        return (f"{path} has no corrections table yet ({text}): open it with this "
                "version of trackdesk to upgrade it.")
    return f"Your correction was not stored: {text}"


# ====================================================================== the controller
@dataclass
class Target:
    """What is under the cursor in the timeline."""

    t: float
    trip: tuple[float, float, str | None, int] | None = None
    segment: tuple[float, float, str] | None = None
    stay: tuple[float, float, str | None, int] | None = None


class CorrectionsController(QObject):
    """Menus, writes, undo/redo and the reruns of the corrections, for one ViewsPanel."""

    changed = Signal()       # the list of corrections was read again
    stored = Signal(object)  # a correction row just stored (or undone / redone)
    failed = Signal(str)     # a write that did not happen, said once

    def __init__(self, panel: Any, window: QMainWindow | None = None) -> None:
        super().__init__(panel)
        self.panel = panel
        self.window = window
        self.loader = panel.loader
        self.writer = CorrectionWriter(self.loader)
        self.rows: list[dict[str, Any]] = []
        self.redo_ids: list[int] = []  # undone in this session, newest last
        self.errors: list[str] = []
        self.last_menu: QMenu | None = None
        self.last_dialog: QWidget | None = None
        self.reruns: list[list[int]] = []  # task ids of each rerun queued
        self.selected_points: list[int] = []
        self._band: QRubberBand | None = None
        self._band_from: QPoint | None = None
        self.act_undo = QAction("&Undo correction", self)
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_undo.triggered.connect(self.undo_last)
        self.act_redo = QAction("&Redo correction", self)
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_redo.triggered.connect(self.redo_last)
        for act in (self.act_undo, self.act_redo):
            # The chain canvas has its own Ctrl+Z in its own window; this one acts only
            # while the main window is active, and a text field keeps its own undo.
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._update_actions()
        panel.viewBuilt.connect(self._view_built)
        panel.refreshed.connect(self._view_refreshed)
        panel.engineChanged.connect(self._engine_changed)
        for name, view in list(panel.views.items()):
            self._view_built(name, view)

    # -- plumbing ------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        return self.panel.engine

    @property
    def zone(self) -> str | None:
        """The zone the timeline shows its days in (where you were), for the times of
        corrections; None (this computer's) before the timeline has loaded."""
        view = self.panel.views.get("timeline")
        tl = view.strip.timeline if view is not None else None
        return tl.zone if tl is not None else None

    def _engine_changed(self, _engine: Any) -> None:
        self.rows, self.redo_ids, self.selected_points = [], [], []
        self._update_actions()
        self._push_to_views()
        self.reload()

    def _view_built(self, name: str, view: Any) -> None:
        if name == "timeline":
            strip = view.strip
            strip.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            strip.customContextMenuRequested.connect(
                lambda pos: self._popup(self.timeline_menu(pos), strip, pos))
            # Times are written in the timeline's zone, known once its data arrived.
            strip.periodShown.connect(lambda _a, _b: self._zone_known())
            self._push_to_views()
        elif name == "map":
            canvas = view.canvas
            canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            canvas.customContextMenuRequested.connect(
                lambda pos: self._popup(self.map_menu(pos), canvas, pos))
            canvas.installEventFilter(self)

    def _zone_known(self) -> None:
        self._update_actions()
        self.changed.emit()

    def _view_refreshed(self, name: str) -> None:
        if name in ("timeline", "map"):
            self.reload()

    def reload(self) -> None:
        """Read the corrections again (off the GUI thread)."""
        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            from trackdesk.tracks import corrections as corr

            if not data.has_table(conn, "corrections"):
                return []
            return corr.list_all(conn)

        self.loader.submit(job, self._loaded)

    def _loaded(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self._update_actions()
        self._push_to_views()
        self.changed.emit()

    def in_force(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["undone_at"] is None]

    def _push_to_views(self) -> None:
        """The timeline marks what you corrected (its tooltip says so)."""
        view = self.panel.views.get("timeline")
        if view is None:
            return
        marks = []
        for r in self.in_force():
            if r["start_ts"] is None or r["kind"] in ("rename_place", "merge_places"):
                continue
            end = r["end_ts"] if r["end_ts"] is not None else r["start_ts"]
            marks.append((float(r["start_ts"]), float(end), short(r)))
        view.strip.corrected = marks
        view.strip.update()

    def _update_actions(self) -> None:
        live = self.in_force()
        self.act_undo.setEnabled(bool(live) and self.loader.path is not None)
        self.act_undo.setText("&Undo correction" + (f": {describe(live[-1], self.zone)}" if live else ""))
        redo = self._redo_row()
        self.act_redo.setEnabled(redo is not None)
        self.act_redo.setText("&Redo correction" + (f": {describe(redo, self.zone)}" if redo else ""))

    def _redo_row(self) -> dict[str, Any] | None:
        by_id = {r["id"]: r for r in self.rows}
        for cid in reversed(self.redo_ids):
            r = by_id.get(cid)
            if r is not None and r["undone_at"] is not None:
                return r
        return None

    def _popup(self, menu: QMenu | None, widget: QWidget, pos: QPoint) -> None:
        if menu is not None:
            menu.popup(widget.mapToGlobal(pos))

    def _new_menu(self, parent: QWidget) -> QMenu:
        if self.last_menu is not None and alive(self.last_menu):
            self.last_menu.close()
        menu = QMenu(parent)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_menu = menu
        return menu

    def _fail(self, message: str) -> None:
        """One message box for a write that did not happen."""
        self.errors.append(message)
        self.failed.emit(message)
        host = self.window
        if host is not None:
            host.show_message(QMessageBox.Icon.Warning, "Correction not stored", message)
        else:
            from trackdesk.ui.dialogs import tell

            self.last_dialog = tell(self.panel, QMessageBox.Icon.Warning,
                                    "Correction not stored", message)
        self._status(message)

    def _status(self, text: str) -> None:
        if self.window is not None:
            self.window.statusBar().showMessage(text, 8000)

    # -- writing -------------------------------------------------------------------
    def add(self, kind: str, start_ts: float | None = None, end_ts: float | None = None,
            value: str | None = None, target_ids: list[int] | None = None) -> bool:
        """Store one correction (off the GUI thread), then rerun what applies it."""
        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            from trackdesk.tracks import corrections as corr

            return corr.add(conn, kind, start_ts, end_ts, value, target_ids)

        return self.write(job)

    def write(self, job: Callable[[sqlite3.Connection], dict[str, Any]]) -> bool:
        """Run ``job(conn)`` (which stores one correction and returns its row)."""
        def done(row: dict[str, Any]) -> None:
            self.redo_ids.clear()  # a new correction: what was undone stays undone
            self._after_write(row, f"Stored: {describe(row, self.zone)}")

        self._status("Storing your correction…")  # a busy tracks.db may take a while
        return self.writer.submit(job, done, self._fail)

    def undo(self, correction_id: int) -> bool:
        from trackdesk.tracks import corrections as corr

        def done(row: dict[str, Any]) -> None:
            self.redo_ids.append(row["id"])
            self._after_write(row, f"Undone: {describe(row, self.zone)}")

        return self.writer.submit(lambda conn: corr.undo(conn, correction_id), done,
                                  self._fail)

    def redo(self, correction_id: int) -> bool:
        from trackdesk.tracks import corrections as corr

        def done(row: dict[str, Any]) -> None:
            if row["id"] in self.redo_ids:
                self.redo_ids.remove(row["id"])
            self._after_write(row, f"In force again: {describe(row, self.zone)}")

        return self.writer.submit(lambda conn: corr.redo(conn, correction_id), done,
                                  self._fail)

    def undo_last(self) -> bool:
        live = self.in_force()
        return bool(live) and self.undo(live[-1]["id"])

    def redo_last(self) -> bool:
        row = self._redo_row()
        return row is not None and self.redo(row["id"])

    def _after_write(self, row: dict[str, Any], text: str) -> None:
        self.stored.emit(row)
        self.reload()
        self.rerun({row["kind"]}, text)

    def rerun(self, kinds: set[str], text: str = "") -> None:
        """Queue the skills that apply ``kinds`` (and their downstream) as INCREMENTAL."""
        engine = self.engine
        chain = rerun_chain(engine.registry, kinds) if engine is not None else None
        if chain is None:
            self._status(text + " (it applies at the next chain run)")
            return
        from trackdesk.ui.aio import spawn

        def queued(recs: list[Any]) -> None:
            self.reruns.append([r.id for r in recs])
            self._status(f"{text} — re-running {', '.join(n.skill for n in chain.nodes)}")

        spawn(engine.run_chain(chain=chain, task_type="INCREMENTAL",
                               created_by="your correction"),
              "re-running the analysis after your correction",
              lambda _what, exc: self._fail(f"Your correction was stored, but the analysis "
                                            f"could not be re-run: {exc}"),
              queued)

    # -- the timeline --------------------------------------------------------------
    def timeline_target(self, pos: QPoint | QPointF) -> Target | None:
        """The moment, trip, mode segment and stay under ``pos`` in the strip."""
        view = self.panel.views.get("timeline")
        if view is None or view.strip.timeline is None:
            return None
        tl = view.strip.timeline
        # The moment the strip draws there: the day as it was lived (issue 21).
        t = view.strip.time_at(QPointF(pos))
        if t is None:
            return None
        hit = Target(t)
        hit.trip = next((tr for tr in tl.trips if tr[0] <= t <= tr[1]), None)
        hit.segment = next((s for s in tl.segments if s[0] <= t <= s[1]), None)
        if hit.trip is None:
            hit.stay = next((s for s in tl.stays if s[0] <= t <= s[1]), None)
        return hit

    def timeline_menu(self, pos: QPoint | QPointF) -> QMenu | None:
        view = self.panel.views.get("timeline")
        hit = self.timeline_target(pos)
        if view is None or hit is None or (hit.trip is None and hit.stay is None):
            return None
        menu = self._new_menu(view.strip)
        zone = self.zone
        if hit.trip is not None:
            a, b, main, tid = hit.trip
            seg = hit.segment or (a, b, main or "")
            # Does the trip hold another stretch? Seconds at its ends that no mode segment
            # covers (its stay begins at a later fix) are no stretch of their own.
            others = hit.segment is not None and any(
                s[0] < b and s[1] > a and (s[0], s[1]) != (seg[0], seg[1])
                for s in view.strip.timeline.segments)
            sa, sb = (max(seg[0], a), min(seg[1], b)) if others else (a, b)
            title = menu.addAction(f"Trip {tid}: {_span_in(sa, sb, zone)} ({seg[2] or 'unknown'})")
            title.setEnabled(False)
            sub = menu.addMenu("This was a…")
            sub.setToolTip("Say how you travelled this stretch: the analysis takes your word "
                           "for it and learns from it")
            for mode in MENU_MODES:
                act = sub.addAction(mode)
                act.setObjectName(f"mode-{mode}")
                act.triggered.connect(lambda _c=False, m=mode, x=sa, y=sb:
                                      self.add("mode", x, y, m))
            if others:
                whole = menu.addMenu("The whole trip was a…")
                for mode in MENU_MODES:
                    whole.addAction(mode).triggered.connect(
                        lambda _c=False, m=mode: self.add("mode", a, b, m))
            menu.addSeparator()
            split = menu.addAction("Split trip here")
            split.setToolTip("The trip ends at " + _clock(hit.t, "%H:%M", zone) +
                             " and a new one begins")
            split.triggered.connect(lambda _c=False, t=hit.t: self.add("split_trip", t))
            menu.addAction("Merge with next trip").triggered.connect(
                lambda _c=False: self.merge_with_next("trips", a, b, tid))
            menu.addSeparator()
            menu.addAction("Mark this stretch's points as wrong").triggered.connect(
                lambda _c=False, x=sa, y=sb: self.add("bad_points", x, y))
        else:
            assert hit.stay is not None
            a, b, label, sid = hit.stay
            where = view.strip.timeline.stay_places.get(sid) or label or "no place"
            title = menu.addAction(f"Stay {sid} at {where}: {_span_in(a, b, zone)}")
            title.setEnabled(False)
            menu.addAction("Merge with next stay").triggered.connect(
                lambda _c=False: self.merge_with_next("stays", a, b, sid))
            split = menu.addAction("Split stay here")
            split.triggered.connect(lambda _c=False, t=hit.t: self.add("split_stay", t))
            menu.addSeparator()
            menu.addAction("Rename place…").triggered.connect(
                lambda _c=False: self.ask_rename_stay_place(sid))
            menu.addAction("Merge place with…").triggered.connect(
                lambda _c=False: self.ask_merge_stay_place(sid))
        return menu

    def merge_with_next(self, table: str, start: float, end: float, ident: int) -> bool:
        """merge_trips / merge_stays from this one to the end of the next one, found
        when the correction is written (the next may lie beyond the period shown)."""
        kind = "merge_trips" if table == "trips" else "merge_stays"
        noun = table[:-1]

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            from trackdesk.tracks import corrections as corr

            nxt = conn.execute(f"SELECT end_ts FROM {table} WHERE start_ts >= ? AND id != ? "
                               "ORDER BY start_ts LIMIT 1", (end, ident)).fetchone()
            if nxt is None:
                raise CorrectionRefused(f"There is no {noun} after this one to merge with.")
            return corr.add(conn, kind, start, max(end, float(nxt[0])))

        return self.write(job)

    # -- places ---------------------------------------------------------------------
    def rename_place(self, place_id: int, name: str) -> bool:
        name = name.strip()
        if not name:
            self._fail("A place needs a name: nothing was changed.")
            return False
        return self.add("rename_place", value=name, target_ids=[int(place_id)])

    def merge_places(self, keep: int, other: int) -> bool:
        return self.add("merge_places", target_ids=[int(keep), int(other)])

    def _stay_place(self, sid: int, then: Callable[[int, str], None]) -> None:
        def job(conn: sqlite3.Connection) -> tuple[int | None, str]:
            row = conn.execute("SELECT place_id FROM stays WHERE id = ?", (sid,)).fetchone()
            if row is None or row[0] is None:
                return None, ""
            pid = int(row[0])
            return pid, (data.place_names(conn, [pid]) or [""])[0]

        def done(res: tuple[int | None, str]) -> None:
            pid, name = res
            if pid is None:
                self._fail(f"Stay {sid} belongs to no place (yet): nothing to rename or "
                           "merge.")
                return
            then(pid, name)

        self.loader.submit(job, done)

    def ask_rename_stay_place(self, sid: int) -> None:
        self._stay_place(sid, self.ask_rename_place)

    def ask_merge_stay_place(self, sid: int) -> None:
        self._stay_place(sid, lambda pid, _name: self.ask_merge_place(pid))

    def ask_rename_place(self, place_id: int, current: str = "") -> QInputDialog:
        parent = self.window or self.panel
        dialog = QInputDialog(parent)
        dialog.setWindowTitle("Rename place")
        dialog.setLabelText(f"New name for place {place_id}"
                            + (f" (now “{current}”)" if current else "") + ":")
        dialog.setTextValue(current)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda text: self.rename_place(place_id, text))
        dialog.open()
        self.last_dialog = dialog
        return dialog

    def ask_merge_place(self, place_id: int) -> None:
        def job(conn: sqlite3.Connection) -> list[tuple]:
            rows = conn.execute("SELECT id, lat, lon, n_visits, label FROM places").fetchall()
            names = dict(zip([r[0] for r in rows], data.place_names(conn, [r[0] for r in rows]),
                             strict=True))
            return [(*r, names.get(r[0], "")) for r in rows]

        self.loader.submit(job, lambda rows: self._merge_dialog(place_id, rows))

    def _merge_dialog(self, place_id: int, rows: list[tuple]) -> QDialog | None:
        me = next((r for r in rows if r[0] == place_id), None)
        if me is None:
            self._fail(f"Place {place_id} is no longer in the database.")
            return None
        dialog = PlacePicker(place_id, me, rows, self.window or self.panel)
        dialog.chosen.connect(lambda other: self.merge_places(place_id, other))
        dialog.open()
        self.last_dialog = dialog
        return dialog

    # -- the map ----------------------------------------------------------------------
    def _place_at(self, canvas: Any, pos: QPointF) -> tuple[int, str, str] | None:
        """The place drawn under ``pos`` (within 10 px): id, title, name."""
        m = canvas.markers
        if not canvas.layers["places"] or len(m.place_xy) == 0:
            return None
        sx, sy = canvas.to_screen(m.place_xy[:, 0], m.place_xy[:, 1])
        d2 = (sx - pos.x()) ** 2 + (sy - pos.y()) ** 2
        i = int(d2.argmin())
        if d2[i] > 10 ** 2:
            return None
        name = m.place_name[i] if i < len(m.place_name) else ""
        return (int(m.place_id[i]), data.place_title(name, m.place_label[i], int(m.place_id[i])),
                name)

    def map_menu(self, pos: QPoint | QPointF) -> QMenu | None:
        view = self.panel.views.get("map")
        if view is None:
            return None
        canvas = view.canvas
        pos = QPointF(pos)
        menu = self._new_menu(canvas)
        place = self._place_at(canvas, pos)
        if place is not None:
            pid, title, name = place
            head = menu.addAction(f"Place {pid}: {title}")
            head.setEnabled(False)
            menu.addAction("Rename place…").triggered.connect(
                lambda _c=False: self.ask_rename_place(pid, name))
            menu.addAction("Merge place with…").triggered.connect(
                lambda _c=False: self.ask_merge_place(pid))
        if self.selected_points:
            n = len(self.selected_points)
            act = menu.addAction(f"Mark {n:,} selected point{'s' if n != 1 else ''} as wrong")
            act.triggered.connect(lambda _c=False, ids=list(self.selected_points):
                                  self.mark_points(ids))
            menu.addAction("Clear the selection").triggered.connect(self.clear_selection)
        sel = view.selected
        if sel is not None and sel[0] == "trip" and len(canvas.selection_path):
            d = view.selected_details
            if d.get("id") == sel[1] and d.get("start_ts") is not None:
                menu.addAction(f"Mark the points of trip {sel[1]} as wrong").triggered.connect(
                    lambda _c=False, a=d["start_ts"], b=d["end_ts"]:
                    self.add("bad_points", a, b))
        if not menu.actions():
            hint = menu.addAction("Shift+drag to select points; right-click a place to "
                                  "rename or merge it")
            hint.setEnabled(False)
        return menu

    def mark_points(self, ids: list[int]) -> bool:
        ok = self.add("bad_points", target_ids=[int(i) for i in ids])
        self.clear_selection()
        return ok

    def clear_selection(self) -> None:
        self.selected_points = []
        view = self.panel.views.get("map")
        if view is not None:
            view.clear_highlight()

    def select_box(self, box: tuple[float, float, float, float]) -> None:
        """Select the points inside this world box (x0, y0, x1, y1), read off the GUI
        thread; they are ringed on the map."""
        x0, y0, x1, y1 = box
        lat_a, lon_a = data.inverse_mercator(x0, y0)
        lat_b, lon_b = data.inverse_mercator(x1, y1)
        lat0, lat1 = sorted((lat_a, lat_b))
        lon0, lon1 = sorted((lon_a, lon_b))

        def job(conn: sqlite3.Connection) -> list[int]:
            return [r[0] for r in conn.execute(
                "SELECT id FROM points WHERE lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? "
                "LIMIT ?", (lat0, lat1, lon0, lon1, MAX_SELECTED_POINTS + 1))]

        def done(ids: list[int]) -> None:
            view = self.panel.views.get("map")
            if len(ids) > MAX_SELECTED_POINTS:
                self.selected_points = []
                if view is not None:
                    view.status.setText(f"More than {MAX_SELECTED_POINTS:,} points in that "
                                        "box: zoom in to select fewer.")
                return
            self.selected_points = ids
            if view is not None:
                view.show_points(ids, fit=False)

        self.loader.submit(job, done)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        """Shift+drag on the map draws a box that selects the points in it."""
        et = event.type()
        if et == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent) \
                and event.button() == Qt.MouseButton.LeftButton \
                and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._band_from = event.position().toPoint()
            if self._band is None:
                self._band = QRubberBand(QRubberBand.Shape.Rectangle, obj)  # type: ignore[arg-type]
            self._band.setGeometry(QRect(self._band_from, QSize()))
            self._band.show()
            return True
        if self._band_from is not None and isinstance(event, QMouseEvent):
            if et == QEvent.Type.MouseMove and self._band is not None:
                self._band.setGeometry(QRect(self._band_from,
                                             event.position().toPoint()).normalized())
                return True
            if et == QEvent.Type.MouseButtonRelease:
                rect = QRect(self._band_from, event.position().toPoint()).normalized()
                self._band_from = None
                if self._band is not None:
                    self._band.hide()
                if rect.width() > 3 and rect.height() > 3:
                    canvas = obj
                    ax, ay = canvas.to_world(rect.left(), rect.top())  # type: ignore[attr-defined]
                    bx, by = canvas.to_world(rect.right(), rect.bottom())  # type: ignore[attr-defined]
                    self.select_box((ax, ay, bx, by))
                return True
        return False

    # -- the dock ------------------------------------------------------------------
    def shutdown(self) -> None:
        self.writer.shutdown()


class PlacePicker(QDialog):
    """Merge place A with…: the other places, nearest first."""

    chosen = Signal(int)

    def __init__(self, place_id: int, me: tuple, rows: list[tuple],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Merge place")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        title = data.place_title(me[5], me[4], place_id)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Merge <b>{title}</b> (place {place_id}) with the place you "
                             f"pick below.<br>They become one place; place {place_id} "
                             "keeps its id and name."))
        self.list = QListWidget()
        lat0, lon0 = me[1], me[2]

        def dist(r: tuple) -> float:
            k = math.cos(math.radians(lat0))
            return 111_195.0 * math.hypot(r[1] - lat0, (r[2] - lon0) * k)

        for r in sorted((r for r in rows if r[0] != place_id), key=dist):
            d = dist(r)
            far = f"{d:,.0f} m" if d < 10_000 else f"{d / 1000:,.0f} km"
            item = QListWidgetItem(f"{data.place_title(r[5], r[4], r[0])} — place {r[0]}, "
                                   f"{r[3]:,} visits, {far} away")
            item.setData(Qt.ItemDataRole.UserRole, int(r[0]))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        lay.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(460, 360)

    def choose(self, other: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == other:
                self.list.setCurrentRow(i)
        self.accept()

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
        super().accept()


class CorrectionsList(QWidget):
    """"Your corrections": who, when, what, in force or undone; Undo / Redo / Show."""

    COLUMNS = ("When", "Who", "What", "State")

    def __init__(self, controller: CorrectionsController, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        # "What" takes the room; the others fit their text.
        head = self.tree.header()
        head.setStretchLastSection(False)
        for c in range(len(self.COLUMNS)):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.itemSelectionChanged.connect(self._selection)
        self.tree.itemDoubleClicked.connect(lambda _i, _c: self.show_selected())
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.show_button = QPushButton("Show in timeline")
        self.undo_button.setToolTip("Take this correction back (its history stays)")
        self.redo_button.setToolTip("Put this correction in force again")
        self.undo_button.clicked.connect(lambda: self._act(controller.undo))
        self.redo_button.clicked.connect(lambda: self._act(controller.redo))
        self.show_button.clicked.connect(self.show_selected)
        self.empty = QLabel("No corrections yet: right-click a trip or a stay in the "
                            "timeline, or a place on the map.")
        self.empty.setWordWrap(True)
        bar = QHBoxLayout()
        for b in (self.undo_button, self.redo_button, self.show_button):
            bar.addWidget(b)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.empty)
        lay.addWidget(self.tree, 1)
        lay.addLayout(bar)
        controller.changed.connect(self.fill)
        self.fill()

    def fill(self) -> None:
        keep = self.selected_id()
        self.tree.clear()
        rows = self.controller.rows
        for r in reversed(rows):  # newest first
            state = "in force" if r["undone_at"] is None else \
                f"undone {_clock(r['undone_at'], '%d %b %H:%M')}"
            item = QTreeWidgetItem([_clock(r["created_at"], "%Y-%m-%d %H:%M"),
                                    str(r["author"]), describe(r, self.controller.zone),
                                    state])
            item.setData(0, Qt.ItemDataRole.UserRole, r["id"])
            item.setToolTip(2, f"correction {r['id']} ({r['kind']}); applied by "
                               f"{r.get('skill') or '—'}")
            self.tree.addTopLevelItem(item)
            if r["id"] == keep:
                item.setSelected(True)
        self.empty.setVisible(not rows)
        self.tree.setVisible(bool(rows))
        self._selection()

    def selected_id(self) -> int | None:
        items = self.tree.selectedItems()
        return int(items[0].data(0, Qt.ItemDataRole.UserRole)) if items else None

    def _row(self) -> dict[str, Any] | None:
        cid = self.selected_id()
        return next((r for r in self.controller.rows if r["id"] == cid), None)

    def _selection(self) -> None:
        r = self._row()
        self.undo_button.setEnabled(r is not None and r["undone_at"] is None)
        self.redo_button.setEnabled(r is not None and r["undone_at"] is not None)
        self.show_button.setEnabled(r is not None and r["start_ts"] is not None)

    def _act(self, what: Callable[[int], bool]) -> None:
        r = self._row()
        if r is not None:
            what(r["id"])

    def show_selected(self) -> None:
        r = self._row()
        if r is None or r["start_ts"] is None:
            return
        panel = self.controller.panel
        view = panel.timeline
        panel.setCurrentWidget(view)
        d = datetime.fromtimestamp(r["start_ts"], data.zone_info(self.controller.zone)).date()
        first = date(d.year, d.month, 1)
        month = first.strftime("%Y-%m")
        if month in view.months:
            view.month.setCurrentText(month)
        else:
            view.show_period(d, d)


def install_corrections(window: QMainWindow, panel: Any) -> CorrectionsController:
    """Edit → Undo / Redo correction and "Your corrections" (a dock), and the context
    menus of the timeline and the map (as they are built)."""
    controller = CorrectionsController(panel, window)
    bar = window.menuBar()
    menus = [a for a in bar.actions() if a.menu() is not None]
    after_file = next((i + 1 for i, a in enumerate(menus)
                       if a.text().replace("&", "") == "File"), 0)
    edit = QMenu("&Edit", window)
    if after_file < len(menus):
        bar.insertMenu(menus[after_file], edit)
    else:
        bar.addMenu(edit)
    edit.addAction(controller.act_undo)
    edit.addAction(controller.act_redo)
    window.addAction(controller.act_undo)
    window.addAction(controller.act_redo)
    edit.addSeparator()
    dock = QDockWidget("Your corrections", window)
    dock.setObjectName("corrections_dock")
    dock.setWidget(CorrectionsList(controller, dock))
    # At the bottom, as the metrics and health docks: a side dock made the window wider
    # than a 1400 px screen next to the timeline's bar.
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()
    show = dock.toggleViewAction()
    show.setText("Your &corrections")
    show.setToolTip("Every correction you made: who, when, what; undo or redo any of them")
    edit.addAction(show)
    controller.dock = dock  # type: ignore[attr-defined]
    return controller
