"""The token rule, loopback by default, browser requests refused, no file paths taken."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest

from tests.api.conftest import P, registry, serving
from tests.engine.conftest import run
from trackdesk.api import ApiConfigError, start_api
from trackdesk.api.server import check_bind
from trackdesk.engine.engine import Engine

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_off_loopback_without_a_token_refuses_to_start(tmp_path: Path, host: str) -> None:
    with pytest.raises(ApiConfigError, match="not loopback, without a token"):
        check_bind(host, None)
    with pytest.raises(ApiConfigError, match="at least 16 characters"):
        check_bind(host, "short")
    check_bind(host, TOKEN)

    async def main() -> None:
        engine = Engine(tmp_path / "tracks.db", registry=registry())
        await engine.start(schedule=False)
        try:
            with pytest.raises(ApiConfigError):
                await start_api(engine, host, 0, None)
        finally:
            await engine.stop()

    run(main())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.3.4.5"])
def test_loopback_needs_no_token(host: str) -> None:
    check_bind(host, None)


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "caf\u00e9-token"])
def test_unusable_tokens_are_refused(token: str) -> None:
    with pytest.raises(ApiConfigError, match="printable ASCII"):
        check_bind("127.0.0.1", token)


def test_with_a_token_every_request_must_carry_it_even_on_loopback(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", token=TOKEN, schedule=False) as s:
            url = s.server.url
            assert url.startswith("http://127.0.0.1:")
            async with aiohttp.ClientSession() as bare:
                paths = [("GET", f"{P}/tasks"), ("GET", f"{P}/tasks/1"),
                         ("POST", f"{P}/tasks"), ("DELETE", f"{P}/tasks/1"),
                         ("POST", f"{P}/trigger-chain"), ("GET", f"{P}/skills"),
                         ("GET", f"{P}/chains"), ("GET", f"{P}/events"),
                         ("GET", "/api/openapi.json"), ("GET", "/api/health"),
                         ("GET", "/no/such/endpoint")]
                for headers in ({}, {"Authorization": "Bearer wrong"},
                                {"Authorization": TOKEN},
                                {"Authorization": f"Basic {TOKEN}"},
                                {"Authorization": f"Bearer {TOKEN}x"}):
                    for method, path in paths:
                        async with bare.request(method, url + path, headers=headers,
                                                json={"skill_name": "noop"}) as resp:
                            body = await resp.json()
                            assert resp.status == 401, (method, path, headers)
                            assert body["code"] == 401 and "token" in body["message"]
                            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert not s.engine.tasks  # nothing was created by the refused POSTs
            # The session of the fixture sends the right token.
            status, out = await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"})
            assert status == 200 and out["data"]["id"] in s.engine.tasks
            status, doc = await s.call("GET", "/api/openapi.json")
            assert status == 200 and doc["security"] == [{"bearer": []}]
            # With a token, browsers (which cannot know it) are not singled out.
            status, _ = await s.call("GET", f"{P}/tasks",
                                     headers={"Origin": "http://example.org"})
            assert status == 200

    run(main())


def test_without_a_token_browser_and_rebinding_requests_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            # A cross-site form post or fetch carries Origin: refused, nothing created.
            status, out = await s.call("POST", f"{P}/tasks", json={"skill_name": "noop"},
                                       headers={"Origin": "http://evil.example"})
            assert status == 403 and "web pages" in out["message"]
            # DNS rebinding: the browser's Host header names the attacker's domain.
            status, out = await s.call("GET", f"{P}/tasks",
                                       headers={"Host": "evil.example:8080"})
            assert status == 403 and "not a loopback name" in out["message"]
            for host in ("localhost:1", "127.0.0.1", "[::1]:8080"):
                status, _ = await s.call("GET", f"{P}/tasks", headers={"Host": host})
                assert status == 200, host
            # An HTTP/1.0 script without any Host header is no browser.
            reader, writer = await asyncio.open_connection("127.0.0.1", s.server.port)
            writer.write(b"GET /api/health HTTP/1.0\r\n\r\n")
            await writer.drain()
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
            assert not s.engine.tasks

    run(main())


def test_no_endpoint_takes_a_file_path(tmp_path: Path) -> None:
    """Import (which reads host files) is not exposed; no field names a path or file."""
    async def main() -> None:
        async with serving(tmp_path / "tracks.db", schedule=False) as s:
            _, doc = await s.call("GET", "/api/openapi.json")
            names: set[str] = set()

            def collect(node: object) -> None:
                if isinstance(node, dict):
                    names.update(node.get("properties", {}))
                    if node.get("in") in ("query", "header", "path"):
                        names.add(node["name"])
                    for value in node.values():
                        collect(value)
                elif isinstance(node, list):
                    for value in node:
                        collect(value)

            collect(doc["paths"])
            collect(doc["components"])
            assert names and "skill_name" in names
            assert not [n for n in names if re.search(r"path|(?<!pro)file|dir\b|folder", n, re.I)]
            # Import reads host files: only those inside the workspace (the tracks.db's
            # folder), symlinks resolved first; relative paths are taken from there.
            inside = tmp_path / "day.gpx"
            inside.write_text("<gpx/>")
            (tmp_path / "link.gpx").symlink_to("/etc/hostname")
            for bad in (["/etc/passwd"], ["../outside.gpx"], [str(tmp_path / "link.gpx")]):
                for value in (json.dumps(bad), bad):
                    status, out = await s.call("POST", f"{P}/tasks", json={
                        "skill_name": "import", "params": {"paths": value}})
                    assert status == 400 and "outside the workspace" in out["message"], bad
            doc = {"nodes": [{"id": "i", "skill": "import",
                              "params": {"paths": '["/etc/passwd"]'}}]}
            status, out = await s.call("PUT", f"{P}/chains/imp", json={"document": doc})
            assert status == 400 and "outside the workspace" in out["message"]
            assert not s.engine.tasks
            status, out = await s.call("POST", f"{P}/tasks", json={
                "skill_name": "import", "params": {"paths": ["day.gpx"]}})
            assert status == 200, out
            assert json.loads(out["data"]["params"]["paths"]) == [str(inside.resolve())]

    run(main())
