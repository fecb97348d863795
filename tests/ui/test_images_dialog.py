"""Chains > Skill images: the sync listing, removal and the no-Docker state, in the window.

The docker tests use the real engine through ``docker_engine`` (tests/docker/conftest.py:
skipped on a developer's machine without Docker, a failure in CI). They never build and
never remove a real skill image: the removal test makes an orphaned image of its own, a
``FROM scratch`` image carrying nothing but the worker labels of a skill that does not
exist.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QMessageBox

from tests.docker.conftest import (
    docker_engine,  # noqa: F401 - the fixture (CI: no skip)
    labelled_image,
    remove_tagged,
)
from tests.ui.conftest import run, until
from trackdesk.engine.images import WORKER_PREFIX, ImageManager
from trackdesk.engine.launchers.docker import unavailable_message
from trackdesk.ui.images_dialog import ImagesDialog

GHOST_SKILL = "ghost_skill"
GHOST_TAG = f"{WORKER_PREFIX}{GHOST_SKILL}:0.1"


def settle(loop: Any, dialog: ImagesDialog, timeout: float = 30.0) -> None:
    """Until the dialog's Docker call ended and it shows a listing or the reason."""
    run(loop, until(lambda: dialog.busy is None and dialog.available is not None,
                    timeout, "the images dialog to finish"), timeout + 5)


def real_tags(client: Any) -> set[str]:
    return {t for img in client.images.list() for t in img.tags
            if t.startswith(WORKER_PREFIX) and t != GHOST_TAG}


@pytest.fixture
def ghost(docker_engine: Any) -> Iterator[str]:  # noqa: F811 - the imported fixture
    """An orphaned worker image of no registered skill, removed afterwards if still there."""
    yield labelled_image(docker_engine, GHOST_TAG, GHOST_SKILL, "0.1", "ghost")
    try:
        docker_engine.images.remove(GHOST_TAG, force=True)
    except Exception:  # noqa: BLE001 - already removed (by the test)
        pass


@pytest.mark.docker
def test_dialog_lists_the_real_skill_states(make_window: Any, loop: Any,
                                            docker_engine: Any) -> None:  # noqa: F811
    w = make_window()
    w.act_images.trigger()  # Chains > Skill images…
    dialog = w.images_dialog
    assert dialog.isVisible() and not dialog.isModal()
    settle(loop, dialog)
    assert dialog.available, dialog.status.text()
    expected = ImageManager(docker_engine, w.engine.registry).sync()
    assert dialog.states() == {s.skill: s.state for s in expected.skills}
    assert dialog.states()  # the built-in skills run in containers
    for row, s in enumerate(expected.skills):
        assert dialog.skills.item(row, 1).text() == s.local_version
        assert dialog.skills.item(row, 2).text() == s.image
        assert dialog.skills.item(row, 4).text() == s.detail
    # Other sessions may make or remove orphans meanwhile: compare one fresh pair.
    for _ in range(3):
        assert dialog.refresh() is not None
        settle(loop, dialog)
        expected = ImageManager(docker_engine, w.engine.registry).sync()
        if dialog.orphan_tags() == [o.tag for o in expected.orphaned]:
            break
    assert dialog.orphan_tags() == [o.tag for o in expected.orphaned]
    assert dialog.build_all.isEnabled()
    assert not dialog.build_selected.isEnabled()  # nothing selected yet
    dialog.skills.selectRow(0)
    assert dialog.build_selected.isEnabled() and dialog.remove_selected.isEnabled()
    # Opening it again raises the same dialog rather than a second one.
    assert w.open_images() is dialog
    settle(loop, dialog)
    dialog.close()


@pytest.mark.docker
def test_removing_an_orphaned_image_from_the_dialog(make_window: Any, loop: Any,
                                                    docker_engine: Any,  # noqa: F811
                                                    ghost: str) -> None:
    before = real_tags(docker_engine)
    w = make_window()
    dialog = w.open_images()
    settle(loop, dialog)
    assert ghost in dialog.orphan_tags(), dialog.orphan_tags()
    assert GHOST_SKILL not in dialog.states()
    row = dialog.orphan_tags().index(ghost)
    dialog.orphans.selectionModel().select(
        dialog.orphans.model().index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect
        | QItemSelectionModel.SelectionFlag.Rows)
    assert dialog.selected_orphans() == [ghost] and dialog.selected_skills() == []
    assert dialog.remove_selected.isEnabled()

    dialog.remove_selected.click()
    box = dialog.last_box
    assert box is not None and box.isVisible()
    assert ghost in box.text()
    box.button(QMessageBox.StandardButton.No).click()  # asked first: No keeps it
    assert dialog.busy is None
    assert ghost in {t for img in docker_engine.images.list() for t in img.tags}

    dialog.remove_selected.click()
    dialog.last_box.button(QMessageBox.StandardButton.Yes).click()
    settle(loop, dialog)
    assert dialog.removed == [ghost]
    assert ghost not in {t for img in docker_engine.images.list() for t in img.tags}
    assert ghost not in dialog.orphan_tags()
    assert f"removed {ghost}" in dialog.log.toPlainText()
    assert real_tags(docker_engine) >= before  # the skill images are untouched
    dialog.close()


def test_unreachable_docker_says_so_and_disables_the_actions(
        make_window: Any, loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    w = make_window()
    dialog = w.open_images()
    settle(loop, dialog)
    assert dialog.available is False
    sentence = dialog.status.text()
    assert sentence == unavailable_message(for_task=False)
    assert "DOCKER_HOST=unix:///nonexistent.sock" in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
    for button in (dialog.build_selected, dialog.build_all, dialog.remove_selected,
                   dialog.remove_orphaned, dialog.force):
        assert not button.isEnabled(), button.text()
    assert dialog.refresh_button.isEnabled()  # try again once the engine runs
    assert dialog.skills.rowCount() == 0 and dialog.orphans.rowCount() == 0
    assert dialog.ask_remove(orphaned=True) is None and dialog.build(None) is None
    dialog.close()


PREFIX = "trackdesk-dlgtest-"


@pytest.fixture
def own_prefix(docker_engine: Any) -> Iterator[None]:  # noqa: F811 - the imported fixture
    remove_tagged(docker_engine, PREFIX)
    yield
    remove_tagged(docker_engine, PREFIX)


@pytest.mark.docker
def test_an_image_a_pending_task_needs_is_removed_only_when_forcing(
        make_window: Any, loop: Any, db_path: Any, docker_engine: Any,  # noqa: F811
        own_prefix: None) -> None:
    """Under a prefix of its own (a manager over made-up skills): Remove selected of a
    skill a held docker task needs asks to force; Remove orphaned removes the orphans."""
    from tests.ui.conftest import insert, record
    from trackdesk.skills.registry import SkillRegistry
    from trackdesk.skills.spec import SkillSpec

    needed = labelled_image(docker_engine, f"{PREFIX}count:1.0", "count", "1.0")
    orphan = labelled_image(docker_engine, f"{PREFIX}gone:0.3", "gone", "0.3")
    insert(db_path, record("count", launcher="docker"))
    w = make_window(hold=["count"])  # the task stays pending: it needs count's image
    registry = SkillRegistry([SkillSpec("count", "1.0", kind="test")])
    dialog = ImagesDialog(w, lambda: ImageManager(docker_engine, registry, prefix=PREFIX))
    w.remember(dialog)
    dialog.show()
    dialog.refresh()
    settle(loop, dialog)
    assert dialog.orphan_tags() == [orphan]
    assert set(dialog.states()) == {"count"}

    dialog.skills.selectRow(0)
    dialog.remove_selected.click()
    first = dialog.last_box
    first.button(QMessageBox.StandardButton.Yes).click()
    run(loop, until(lambda: dialog.last_box is not first and dialog.busy is None, 20,
                    "the question about forcing"))
    forcing = dialog.last_box
    assert forcing.icon() == QMessageBox.Icon.Warning and "count" in forcing.text()
    forcing.button(QMessageBox.StandardButton.No).click()
    tags = {t for img in docker_engine.images.list() for t in img.tags}
    assert needed in tags  # refused without forcing
    assert "a pending or running task needs it" in dialog.log.toPlainText()

    dialog.remove_selected.click()
    first = dialog.last_box
    first.button(QMessageBox.StandardButton.Yes).click()
    run(loop, until(lambda: dialog.last_box is not first and dialog.busy is None, 20,
                    "the question about forcing"))
    dialog.last_box.button(QMessageBox.StandardButton.Yes).click()  # force
    settle(loop, dialog)
    assert dialog.removed == [needed]
    assert dialog.states() == {"count": "missing"}

    assert dialog.remove_orphaned.isEnabled()
    dialog.remove_orphaned.click()
    dialog.last_box.button(QMessageBox.StandardButton.Yes).click()
    settle(loop, dialog)
    assert dialog.removed == [orphan] and dialog.orphan_tags() == []
    assert not dialog.remove_orphaned.isEnabled()
    tags = {t for img in docker_engine.images.list() for t in img.tags}
    assert needed not in tags and orphan not in tags
    dialog.close()


@pytest.mark.docker
def test_build_selected_shows_its_lines_and_keeps_the_window_responsive(
        make_window: Any, loop: Any, docker_engine: Any,  # noqa: F811
        own_prefix: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One real build (its layers cached by the skill images), under a prefix of its own
    and in a build folder of its own (the shared one may be in use by another build)."""
    import shutil

    from PySide6.QtCore import QTimer

    from trackdesk.engine.images import build_dir
    from trackdesk.skills.registry import SkillRegistry
    from trackdesk.skills.spec import SkillSpec

    shared = build_dir() / "wheels"
    if shared.is_dir():  # the downloaded wheels, linked (no second download); the small
        # files copied, so a rewrite here never changes the shared folder's
        def link(src: str, dst: str) -> None:
            (os.link if src.endswith(".whl") else shutil.copy2)(src, dst)

        shutil.copytree(shared, tmp_path / "build" / "wheels", copy_function=link)
    monkeypatch.setenv("TRACKDESK_DOCKER_BUILD_DIR", str(tmp_path / "build"))
    w = make_window()
    registry = SkillRegistry([SkillSpec("count", "1.0", kind="test"),
                              SkillSpec("other", "1.0", kind="test")])
    dialog = ImagesDialog(w, lambda: ImageManager(docker_engine, registry, prefix=PREFIX))
    w.remember(dialog)
    dialog.show()
    dialog.refresh()
    settle(loop, dialog)
    assert dialog.states() == {"count": "missing", "other": "missing"}

    ticks: list[float] = []
    timer = QTimer(dialog)
    timer.setInterval(50)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    dialog.skills.selectRow(0)
    dialog.build_selected.click()
    assert dialog.busy is not None and not dialog.build_all.isEnabled()
    started = time.monotonic()
    settle(loop, dialog, timeout=120)
    took = time.monotonic() - started
    timer.stop()
    assert dialog.states() == {"count": "present", "other": "missing"}, dialog.log.toPlainText()
    text = dialog.log.toPlainText()
    assert f"building {PREFIX}count:1.0" in text and "built 1 image(s)" in text
    # The GUI thread kept turning while Docker built: no gap of a second between ticks.
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert ticks and max(gaps, default=0) < 1.0, (took, max(gaps, default=0))
    dialog.close()


def test_closing_the_dialog_while_docker_is_asked_touches_no_deleted_widget(
        make_window: Any, loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import shiboken6

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    w = make_window()
    dialog = w.open_images()
    task = dialog.busy
    assert task is not None and not task.done()  # the answer comes from another thread
    dialog.close()  # deleted on close, before the answer
    run(loop, until(task.done, 20, "the Docker call to end"))
    run(loop, until(lambda: not shiboken6.isValid(dialog), 5, "the dialog to go"))
    assert task.exception() is None
