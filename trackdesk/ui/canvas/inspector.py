"""The node inspector: a form generated from the selected skill's parameter spec.

Each parameter gets an editor for its type (number, text, switch, choice) with its unit,
bounds, default and help. A value the skill would refuse stays in the chain, marked red
with the reason (a run's pre-flight check refuses it too). Every change is an undoable
document edit. Named threshold profiles of the skill are applied and saved here; their
storage goes through the canvas window (the tracks.db belongs to the engine).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from trackdesk.engine.profiles import Profile
from trackdesk.skills.spec import Param, SkillSpec
from trackdesk.ui.canvas.document import ChainDocument

INVALID_STYLE = "border: 1.5px solid #dc2626; background: #fef2f2;"
ERROR_STYLE = "color: #dc2626; font-size: 11px;"
HINT_STYLE = "color: #64748b; font-size: 11px;"
LAUNCHER_CHOICES = (("default launcher", None), ("local process", "local"),
                    ("Docker container", "docker"))


def parse_text(param: Param, text: str) -> Any:
    """What the user typed, as the parameter's type when it reads as one; otherwise the
    text itself (kept and marked invalid, never silently dropped)."""
    text = text.strip()
    if param.type == "int":
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)
                return int(f) if f.is_integer() else f
            except ValueError:
                return text
    if param.type == "float":
        try:
            return float(text)
        except ValueError:
            return text
    return text


def param_label(param: Param) -> str:
    """'dist_threshold_m' -> 'dist threshold': the unit is shown beside the editor."""
    words = param.name.split("_")
    unit = param.unit.replace("/", "p").replace("²", "2")
    if len(words) > 1 and unit and words[-1] == unit:
        words = words[:-1]
    return " ".join(words)


def range_hint(param: Param) -> str:
    """'5 – 5000 m · default 100' (what the skill accepts, at a glance)."""
    def short(v: Any) -> str:
        if isinstance(v, bool):
            return "on" if v else "off"
        return f"{v:g}" if isinstance(v, int | float) else str(v)

    unit = f" {param.unit}" if param.unit else ""
    if param.min is not None or param.max is not None:
        lo = "−∞" if param.min is None else short(param.min)
        hi = "∞" if param.max is None else short(param.max)
        return f"{lo} – {hi}{unit} · default {short(param.default)}"
    if param.type == "choice":
        return f"{' | '.join(param.choices)} · default {short(param.default)}"
    return f"default {short(param.default)}{unit if param.type in ('int', 'float') else ''}"


def show_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


class _Row:
    def __init__(self, param: Param, editor: QWidget, error: QLabel, reset: QToolButton):
        self.param, self.editor, self.error, self.reset = param, editor, error, reset
        self.invalid = False


class NodeInspector(QScrollArea):
    profileSaveRequested = Signal(str, str, dict)  # skill, name, params
    profileDeleteRequested = Signal(str, str)  # skill, name
    profilesWanted = Signal(str)  # skill: the window answers with set_profiles

    def __init__(self, doc: ChainDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.node_id: str | None = None
        self.rows: dict[str, _Row] = {}
        self.profiles: list[Profile] = []
        self.setWidgetResizable(True)
        # The form follows the pane's width (long help wraps) instead of scrolling sideways.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(280)
        doc.nodeChanged.connect(self._on_node_changed)
        doc.nodeRemoved.connect(lambda i: self.show_node(None) if i == self.node_id else None)
        doc.reset.connect(lambda: self.show_node(None))
        self.show_node(None)

    # ================================================================ building ======
    def show_node(self, node_id: str | None) -> None:
        """Build the form for ``node_id`` (None: a hint instead)."""
        self.node_id = node_id
        self.rows = {}
        self.profiles = []
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(10, 10, 10, 10)
        if node_id is None or not self.doc.chain.has_node(node_id):
            self.node_id = None
            hint = QLabel("Select one skill on the canvas to see and change its "
                          "parameters.\n\nDrag skills from the palette onto the canvas; "
                          "drag from a skill's bottom port to another's top port to make "
                          "the second run after the first.")
            hint.setWordWrap(True)
            hint.setStyleSheet("color: palette(mid);")
            lay.addWidget(hint)
            lay.addStretch(1)
            self.setWidget(page)
            return
        node = self.doc.chain.node(node_id)
        spec = self.doc.registry.get(node.skill)
        ident = f"{node.id} · {spec.name}" if node.id != spec.name else spec.name
        title = QLabel(f"<b>{spec.title or spec.name}</b> &nbsp;<span style='color:gray'>"
                       f"{ident} {spec.version}</span>")
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setWordWrap(True)
        lay.addWidget(title)
        desc = QLabel(spec.description)
        desc.setWordWrap(True)
        desc.setStyleSheet("color: palette(mid);")
        lay.addWidget(desc)

        self.launcher = QComboBox()
        for text, value in LAUNCHER_CHOICES:
            self.launcher.addItem(text, value)
        if not spec.docker:
            self.launcher.model().item(2).setEnabled(False)  # type: ignore[attr-defined]
        self.launcher.setToolTip("Where this skill's worker runs; the default launcher is "
                                 "the one chosen in the settings")
        self.launcher.currentIndexChanged.connect(self._launcher_changed)
        form0 = QFormLayout()
        form0.addRow("Runs in", self.launcher)
        lay.addLayout(form0)
        lay.addWidget(self._profile_box(spec))

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for param in spec.params:
            form.addRow(self._label(param), self._row(param))
        if not spec.params:
            form.addRow(QLabel("This skill has no parameters."))
        lay.addLayout(form)
        lay.addStretch(1)
        self.setWidget(page)
        self.refresh()
        self.profilesWanted.emit(node.skill)

    def _label(self, param: Param) -> QLabel:
        label = QLabel(param_label(param))
        label.setToolTip(self._help(param))
        return label

    @staticmethod
    def _help(param: Param) -> str:
        parts = [param.help] if param.help else []
        if param.min is not None or param.max is not None:
            lo = "" if param.min is None else f"{show_value(param.min)}"
            hi = "" if param.max is None else f"{show_value(param.max)}"
            parts.append(f"from {lo or '−∞'} to {hi or '∞'} {param.unit}".rstrip())
        parts.append(f"default {show_value(param.default)} {param.unit}".rstrip())
        return "\n".join(parts)

    def _row(self, param: Param) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        h = QHBoxLayout()
        h.setSpacing(4)
        editor: QWidget
        if param.type == "bool":
            editor = QCheckBox()
            editor.toggled.connect(lambda on, p=param: self._commit(p, on))
        elif param.type == "choice":
            editor = QComboBox()
            editor.addItems(list(param.choices))
            editor.currentTextChanged.connect(lambda t, p=param: self._commit(p, t))
        else:
            editor = QLineEdit()
            editor.setPlaceholderText(show_value(param.default))
            editor.editingFinished.connect(lambda p=param: self._commit_text(p))
        editor.setToolTip(self._help(param))
        editor.setObjectName(f"param-{param.name}")
        h.addWidget(editor, 1)
        if param.unit:
            h.addWidget(QLabel(param.unit))
        reset = QToolButton()
        reset.setText("↺")
        reset.setToolTip(f"Back to the default ({show_value(param.default)} "
                         f"{param.unit})".replace(" )", ")"))
        reset.clicked.connect(lambda _c=False, p=param: self._commit(p, None))
        h.addWidget(reset)
        v.addLayout(h)
        # Under each editor: its range and default, or (in red) why the value is refused.
        error = QLabel(range_hint(param))
        error.setWordWrap(True)
        error.setStyleSheet(HINT_STYLE)
        v.addWidget(error)
        self.rows[param.name] = _Row(param, editor, error, reset)
        return box

    def _profile_box(self, spec: SkillSpec) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 4, 0, 4)
        v.setSpacing(3)
        top = QHBoxLayout()
        h = QHBoxLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.setToolTip("Named threshold profiles of this skill, kept in the "
                                      "tracks.db")
        self.profile_combo.setMinimumWidth(90)
        self.apply_profile_btn = QPushButton("Apply")
        self.apply_profile_btn.setToolTip("Set this node's parameters to the profile's")
        self.apply_profile_btn.clicked.connect(self._apply_profile)
        self.save_profile_btn = QPushButton("Save as…")
        self.save_profile_btn.setToolTip("Keep this node's parameters as a named profile")
        self.save_profile_btn.clicked.connect(self._save_profile)
        self.delete_profile_btn = QToolButton()
        self.delete_profile_btn.setText("✕")
        self.delete_profile_btn.setToolTip("Delete the chosen profile")
        self.delete_profile_btn.clicked.connect(self._delete_profile)
        top.addWidget(QLabel("Threshold profile"))
        top.addWidget(self.profile_combo, 1)
        top.addWidget(self.delete_profile_btn)
        h.addStretch(1)
        h.addWidget(self.apply_profile_btn)
        h.addWidget(self.save_profile_btn)
        v.addLayout(top)
        v.addLayout(h)
        self._fill_profiles()
        return box

    # ================================================================ values ========
    def refresh(self) -> None:
        """Show the node's current values and mark the invalid ones."""
        if self.node_id is None or not self.doc.chain.has_node(self.node_id):
            return
        node = self.doc.chain.node(self.node_id)
        errors = self.doc.chain.param_errors(self.node_id, self.doc.registry)
        self.launcher.blockSignals(True)
        self.launcher.setCurrentIndex(max(0, self.launcher.findData(node.launcher)))
        self.launcher.blockSignals(False)
        for name, row in self.rows.items():
            value = node.params.get(name, row.param.default)
            ed = row.editor
            ed.blockSignals(True)
            if isinstance(ed, QCheckBox):
                ed.setChecked(bool(value) if isinstance(value, bool) else
                              str(value).lower() in ("1", "true", "yes", "on"))
            elif isinstance(ed, QComboBox):
                ed.setCurrentText(str(value))
            elif isinstance(ed, QLineEdit):
                ed.setText(show_value(value))
            ed.blockSignals(False)
            why = errors.get(name)
            ed.setStyleSheet(INVALID_STYLE if why else "")
            row.invalid = bool(why)
            row.error.setText(why or range_hint(row.param))
            row.error.setStyleSheet(ERROR_STYLE if why else HINT_STYLE)
            row.reset.setEnabled(name in node.params)
            font = ed.font()
            font.setBold(name in node.params)  # bold: differs from the skill's default
            ed.setFont(font)
        self._fill_profiles(node.profile)

    def invalid_params(self) -> list[str]:
        return [n for n, r in self.rows.items() if r.invalid]

    def _commit_text(self, param: Param) -> None:
        row = self.rows.get(param.name)
        if row is None or not isinstance(row.editor, QLineEdit):
            return
        text = row.editor.text()
        self._commit(param, parse_text(param, text) if text.strip() else None)

    def _commit(self, param: Param, value: Any) -> None:
        """Set (or with None: reset) one parameter of the shown node, undoably."""
        if self.node_id is None:
            return
        node = self.doc.chain.node(self.node_id)
        params = dict(node.params)
        if value is None or (value == param.default and type(value) is type(param.default)):
            params.pop(param.name, None)
        else:
            params[param.name] = value
        if params != node.params:
            self.doc.set_node(self.node_id, f"Set {param.name}", params=params, profile=None)

    def set_value(self, name: str, text: str) -> None:
        """Type ``text`` into a parameter's editor and confirm it (tests, scripting)."""
        row = self.rows[name]
        if isinstance(row.editor, QLineEdit):
            row.editor.setText(text)
            self._commit_text(row.param)
        else:
            self._commit(row.param, parse_text(row.param, text))

    def _launcher_changed(self, _index: int) -> None:
        if self.node_id is not None:
            self.doc.set_node(self.node_id, "Set launcher", launcher=self.launcher.currentData())

    def _on_node_changed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.refresh()

    # ================================================================ profiles ======
    def set_profiles(self, skill: str, profiles: list[Profile]) -> None:
        """The window hands over the stored profiles of ``skill``."""
        if self.node_id is None or self.doc.chain.node(self.node_id).skill != skill:
            return
        self.profiles = profiles
        self._fill_profiles(self.doc.chain.node(self.node_id).profile)

    def _fill_profiles(self, current: str | None = None) -> None:
        combo = getattr(self, "profile_combo", None)
        if combo is None:
            return
        combo.blockSignals(True)
        combo.clear()
        for p in self.profiles:
            combo.addItem(p.name, p.name)
        if current:
            combo.setCurrentIndex(max(0, combo.findData(current)))
        combo.blockSignals(False)
        has = bool(self.profiles)
        combo.setEnabled(has)
        combo.setPlaceholderText("no profiles yet" if not has else "")
        self.apply_profile_btn.setEnabled(has)
        self.delete_profile_btn.setEnabled(has)

    def current_profile(self) -> Profile | None:
        name = self.profile_combo.currentData()
        return next((p for p in self.profiles if p.name == name), None)

    def apply_profile(self, name: str) -> None:
        profile = next((p for p in self.profiles if p.name == name), None)
        if profile is None or self.node_id is None:
            return
        self.doc.set_node(self.node_id, f"Apply profile {name}", params=dict(profile.params),
                          profile=name)

    def _apply_profile(self) -> None:
        p = self.current_profile()
        if p is not None:
            self.apply_profile(p.name)

    def _save_profile(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        if self.node_id is None:
            return
        node = self.doc.chain.node(self.node_id)
        from trackdesk.ui.filedialogs import fit_title

        dialog = QInputDialog(self)
        fit_title(dialog, "Save threshold profile")
        dialog.setLabelText(f"Name of the profile for {node.skill}:")
        dialog.setTextValue(node.profile or "")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        skill, params = node.skill, dict(node.params)
        dialog.textValueSelected.connect(
            lambda name: self.profileSaveRequested.emit(skill, name, params)
            if name.strip() else None)
        self.last_dialog = dialog
        dialog.open()

    def _delete_profile(self) -> None:
        p = self.current_profile()
        if p is not None:
            self.profileDeleteRequested.emit(p.skill, p.name)
