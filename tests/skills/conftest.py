"""Fixtures for the analysis skills: small ground-truth databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.skills.chain import connect, new_db
from trackdesk.skills.groundtruth import Truth, generate, insert_points


@pytest.fixture(scope="module")
def truth_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Truth, Path]:
    """Five days of one person's history (every corruption kind), points in truth order."""
    truth = generate(days=5, seed=7)
    path = new_db(tmp_path_factory.mktemp("gt") / "tracks.db")
    conn = connect(path)
    insert_points(conn, truth)
    conn.close()
    return truth, path
