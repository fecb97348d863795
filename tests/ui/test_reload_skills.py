"""Chains > Reload skills: the engine's registry (and so the canvas and the API) follows
the user skills folder; broken skills are listed, the others load."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.ui.conftest import boxes, run, until
from trackdesk.engine.chains import RecoveryFile
from trackdesk.ui.canvas.window import CanvasWindow

GOOD = '''
from trackdesk.skills.user import skill

@skill(name="good_one", version="1.0", columns={"x": int})
def process(batch):
    return [{"point_id": p.id, "x": 1} for p in batch]
'''


def test_reload_skills_menu_action(make_window, loop, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "skills"
    monkeypatch.setenv("TRACKDESK_SKILLS_DIR", str(folder))
    w = make_window()
    chains = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Chains")
    assert w.act_reload_skills in chains.actions()
    assert "good_one" not in w.engine.registry
    (folder / "good_one").mkdir(parents=True)
    (folder / "good_one" / "skill.py").write_text(GOOD, encoding="utf-8")
    (folder / "broken").mkdir()
    (folder / "broken" / "skill.py").write_text("x = (\n", encoding="utf-8")
    canvas = CanvasWindow(engine=w.engine, recovery=RecoveryFile(tmp_path / "recovery.json"))
    canvas.show()
    assert "good_one" not in canvas.palette.visible_skills()
    w.act_reload_skills.trigger()
    run(loop, until(lambda: "good_one" in w.engine.registry, what="the user skill"))
    assert w.engine.registry.get("good_one").kind == "user"
    # The open canvas's palette has it, under "Your skills".
    tree = canvas.palette.tree
    groups = {tree.topLevelItem(i).text(0): tree.topLevelItem(i)
              for i in range(tree.topLevelItemCount())}
    mine = groups["Your skills"]
    assert [mine.child(i).text(0) for i in range(mine.childCount())] == ["good_one"]
    canvas.detach()
    canvas.close()
    canvas.deleteLater()
    run(loop, until(lambda: boxes(w), what="the problems box"))
    [box] = boxes(w)
    assert f"{folder / 'broken' / 'skill.py'}:1:" in box.text()
    assert "1 user skill loaded" in w.statusBar().currentMessage()
    box.button(QMessageBox.StandardButton.Ok).click()
    # Removed from the folder: gone from the registry at the next reload.
    (folder / "good_one" / "skill.py").unlink()
    (folder / "broken" / "skill.py").unlink()
    w.act_reload_skills.trigger()
    run(loop, until(lambda: "good_one" not in w.engine.registry, what="the removal"))
