"""Schema-driven fuzzing: schemathesis generates requests from the served OpenAPI document.

Valid and invalid requests alike must never get a server error, and every answer must
match the document (status codes, content type, response schema); invalid data must be
refused. Bounded: a few examples per operation, well under a minute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import BackgroundServer, registry
from trackdesk.api.openapi import build_openapi

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    db = tmp_path_factory.mktemp("fuzz") / "tracks.db"
    with BackgroundServer(db) as bg:
        engine = bg.engine
        assert engine is not None
        # Some real tasks, so that ids 1..4 hit tasks in several states.
        for skill in ("noop", "count", "noop", "count"):
            bg.call(engine.create_task(skill))
        bg.call(engine.cancel(2))
        bg.call(engine.pause(3))
        yield bg


# Built at collection time from the same function the server uses (schemathesis' lazy
# fixture loader does not work with this pytest); test_served_document_is_the_fuzzed_one
# checks that the server serves exactly this document.
DOCUMENT = build_openapi(sorted(registry().names()))
# The event stream never ends: it has tests of its own (test_events.py).
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/admin/analysis/events")


def test_served_document_is_the_fuzzed_one(live: BackgroundServer) -> None:
    import requests

    resp = requests.get(f"{live.url}/api/openapi.json", timeout=10)
    assert resp.status_code == 200
    assert resp.json() == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(max_examples=int(os.environ.get("TRACKDESK_FUZZ_EXAMPLES", "12")), deadline=None,
          derandomize=not os.environ.get("TRACKDESK_FUZZ_EXAMPLES"), database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_match_the_document(case: Any, live: BackgroundServer
                                                        ) -> None:
    case.call_and_validate(base_url=live.url, checks=CHECKS, timeout=10)


def test_fuzzing_left_the_engine_consistent(live: BackgroundServer, tmp_path: Path) -> None:
    engine = live.engine
    assert engine is not None and engine.started
    for rec in engine.tasks.values():
        for dep in rec.depends_on_task_ids:
            assert dep in engine.tasks
