"""The chain model without Qt: link checks, edits, validation, documents, templates,
recovery, profiles and the expansion of a chain into tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import worker_registry
from trackdesk.engine.chains import (
    CHAIN_FORMAT_VERSION,
    DEFAULT_CHAIN_NAME,
    Chain,
    ChainError,
    ChainTemplates,
    CycleError,
    DuplicateLinkError,
    ReadOnlyTemplateError,
    RecoveryFile,
    SelfLinkError,
    UnknownSkillInChainError,
    default_chain,
    export_chain,
    import_chain,
    layered_layout,
    load_document,
)
from trackdesk.engine.engine import Engine
from trackdesk.engine.profiles import ProfileError, ThresholdProfiles
from trackdesk.engine.store import TaskStore
from trackdesk.skills.registry import BUILTIN_SPECS, SkillRegistry

REG = SkillRegistry(BUILTIN_SPECS)


def abc() -> Chain:
    c = Chain("abc")
    for skill in ("outlier_detection", "trajectory_completion", "transport_mode"):
        c.add_node(skill, registry=REG)
    c.add_link("outlier_detection", "trajectory_completion")
    c.add_link("trajectory_completion", "transport_mode")
    return c


# ------------------------------------------------------------------ validation ------
def test_a_link_that_closes_a_loop_is_refused_with_the_loop_named():
    c = abc()
    with pytest.raises(CycleError) as err:
        c.check_connect("transport_mode", "outlier_detection")
    assert err.value.cycle == ["outlier_detection", "trajectory_completion",
                               "transport_mode", "outlier_detection"]
    ok, why = c.can_connect("transport_mode", "outlier_detection")
    assert not ok and "cycle" in why and "transport_mode" in why
    assert c.links == [("outlier_detection", "trajectory_completion"),
                       ("trajectory_completion", "transport_mode")]


def test_self_duplicate_and_unknown_links_raise_their_own_errors():
    c = abc()
    with pytest.raises(SelfLinkError):
        c.check_connect("transport_mode", "transport_mode")
    with pytest.raises(DuplicateLinkError):
        c.add_link("outlier_detection", "trajectory_completion")
    with pytest.raises(ChainError, match="no node"):
        c.check_connect("outlier_detection", "nowhere")
    c.nodes.append(c.node("transport_mode").copy())
    c.nodes[-1].id, c.nodes[-1].skill = "ghost", "ghost_skill"
    with pytest.raises(UnknownSkillInChainError):
        c.check_connect("outlier_detection", "ghost", REG)
    assert c.can_connect("outlier_detection", "transport_mode") == (True, "")
    with pytest.raises(UnknownSkillInChainError):
        c.add_node("nope", registry=REG)


def test_removing_a_node_takes_its_links_and_can_be_put_back_in_place():
    c = abc()
    before = c.to_document()
    node, index, gone = c.remove_node("trajectory_completion")
    assert [n.id for n in c.nodes] == ["outlier_detection", "transport_mode"]
    assert c.links == []
    c.insert_node(node, index)
    c.restore_links(gone)
    assert c.to_document() == before


def test_node_ids_stay_unique_for_the_same_skill_twice():
    c = Chain()
    assert c.add_node("stay_detection").id == "stay_detection"
    assert c.add_node("stay_detection").id == "stay_detection_2"
    with pytest.raises(ChainError, match="already has"):
        c.add_node("stay_detection", node_id="stay_detection")


def test_validate_names_bad_parameters_launchers_and_empty_chains():
    assert [p.message for p in Chain().validate(REG)] == ["the chain has no skills"]
    c = abc()
    assert c.validate(REG) == []
    c.node("outlier_detection").params = {"max_speed_mps": 9999.0}
    c.node("transport_mode").params = {"window_s": "soon"}
    problems = c.validate(REG)
    assert {p.node_id for p in problems} == {"outlier_detection", "transport_mode"}
    assert "above its maximum 400.0 m/s" in problems[0].message
    assert c.param_errors("transport_mode", REG) == {
        "window_s": "parameter 'window_s' must be a number, not 'soon'"}
    imp = Chain()
    imp.add_node("import", launcher="docker")
    assert "only with the local launcher" in imp.validate(REG)[0].message


def test_layout_puts_each_node_one_layer_below_its_deepest_upstream():
    pos = layered_layout(default_chain(REG))
    ys = {k: v[1] for k, v in pos.items()}
    assert ys["outlier_detection"] == 0
    assert ys["footprint_stats"] == ys["stay_stats"] > ys["grid_system"]
    assert ys["rendering_metadata"] > ys["stay_stats"]
    assert pos["footprint_stats"][0] != pos["stay_stats"][0]  # side by side, not stacked


# ------------------------------------------------------------------ documents -------
def test_save_and_load_round_trip_keeps_everything(tmp_path: Path):
    c = abc()
    c.node("outlier_detection").params = {"max_speed_mps": 120.0}
    c.node("outlier_detection").profile = "strict"
    c.node("transport_mode").launcher = "docker"
    c.node("transport_mode").x, c.node("transport_mode").y = 480.5, -12.0
    result = load_document(json.loads(json.dumps(c.to_document())), REG)
    assert result.complete and result.chain == c
    path = export_chain(c, tmp_path / "mine.json")
    again = import_chain(path, REG)
    assert again.chain == c and again.warnings == []
    assert json.loads(path.read_text())["version"] == CHAIN_FORMAT_VERSION


def test_a_newer_version_with_an_unknown_skill_loads_what_it_can_and_says_so():
    doc = {
        "format": "trackdesk-chain", "version": CHAIN_FORMAT_VERSION + 1, "name": "future",
        "nodes": [
            {"id": "a", "skill": "outlier_detection", "params": {"max_speed_mps": 50,
                                                                 "hologram": True},
             "x": 0, "y": 0, "colour": "red"},
            {"id": "b", "skill": "teleport_detection", "x": 200, "y": 0},
            {"id": "c", "skill": "stay_detection", "x": 400, "y": 0},
            {"id": "c", "skill": "stay_detection"},
            "garbage",
        ],
        "links": [["a", "b"], ["b", "c"], ["a", "c"], ["c", "a"], ["a", "zz"], [1]],
        "groups": [{"nodes": ["a", "c"]}],
    }
    result = load_document(doc, REG)
    text = "\n".join(result.warnings)
    assert "newer trackdesk (format version 2" in result.warnings[0]
    assert result.unknown_skills == ["teleport_detection"]
    assert "unknown skill 'teleport_detection'" in text
    assert "hologram" in text and "second node with id 'c'" in text
    assert "link c -> a left out: dependency cycle" in text
    assert "link a -> zz left out" in text and "unreadable link [1]" in text
    assert [n.id for n in result.chain.nodes] == ["a", "c"]
    assert result.chain.links == [("a", "c")]
    assert result.chain.node("a").params == {"max_speed_mps": 50}


def test_a_file_that_is_no_chain_is_refused_clearly(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ChainError, match="not a chain file"):
        import_chain(bad, REG)
    with pytest.raises(ChainError, match="format 'orange-workflow'"):
        load_document({"format": "orange-workflow", "nodes": []})
    with pytest.raises(ChainError, match="no node list"):
        load_document({"nodes": "many"})


def test_the_strict_reader_used_by_the_engine_still_reads_old_documents():
    doc = {"name": "old", "nodes": [{"id": "x", "skill": "count"}], "links": []}
    assert Chain.from_document(doc).nodes[0].skill == "count"


# ------------------------------------------------------------------ expansion -------
def test_a_chain_becomes_one_task_per_node_in_dependency_order():
    reg = worker_registry()
    c = Chain("fan")
    for node_id in ("last", "left", "right", "first"):
        c.add_node("count", node_id=node_id, params={"n": 3, "key": node_id}, registry=reg)
    c.add_link("first", "left")
    c.add_link("first", "right")
    c.add_link("left", "last")
    c.add_link("right", "last")
    c.node("right").launcher = "docker"
    records, local = Engine.chain_records(reg, c, "FULL_RECOMPUTE", "local", "test")
    keys = [r.params["key"] for r in records]
    assert keys[0] == "first" and keys[-1] == "last"
    assert local[0] == [] and sorted(local[-1]) == [keys.index("left"), keys.index("right")]
    assert {r.task_type for r in records} == {"FULL_RECOMPUTE"}
    assert len({r.chain_run_id for r in records}) == 1
    assert records[keys.index("right")].launcher == "docker"
    assert records[keys.index("left")].params["n"] == 3


# ------------------------------------------------------------------ templates -------
@pytest.fixture
def store(tmp_path: Path):
    s = TaskStore(tmp_path / "tracks.db")
    s.save_template(DEFAULT_CHAIN_NAME, default_chain(REG).to_document(), read_only=True)
    yield s
    s.close()


def test_templates_save_rename_duplicate_delete(store: TaskStore):
    t = ChainTemplates(store, REG)
    assert t.save(abc(), "mine") == "mine"
    with pytest.raises(ChainError, match="exists already"):
        t.save(abc(), "mine", overwrite=False)
    assert t.rename("mine", "ours") == "ours"
    assert "mine" not in t.names()
    copy = t.duplicate("ours")
    assert copy == "ours copy" and t.load(copy).chain.links == abc().links
    t.delete("ours")
    assert sorted(t.names()) == [DEFAULT_CHAIN_NAME, "ours copy"]
    with pytest.raises(ChainError, match="name has 1 to 100"):
        t.save(abc(), "../etc/passwd")


def test_the_default_chain_is_read_only_but_can_be_copied(store: TaskStore):
    t = ChainTemplates(store, REG)
    assert t.is_read_only(DEFAULT_CHAIN_NAME)
    for change in (lambda: t.save(abc(), DEFAULT_CHAIN_NAME),
                   lambda: t.rename(DEFAULT_CHAIN_NAME, "x"),
                   lambda: t.delete(DEFAULT_CHAIN_NAME)):
        with pytest.raises(ReadOnlyTemplateError):
            change()
    copy = t.duplicate(DEFAULT_CHAIN_NAME)
    assert not t.is_read_only(copy)
    assert t.load(copy).chain.links == default_chain(REG).links


def test_a_stored_template_with_a_now_unknown_skill_still_opens(store: TaskStore):
    doc = abc().to_document()
    doc["nodes"].append({"id": "gone", "skill": "retired_skill"})
    doc["links"].append(["transport_mode", "gone"])
    store.save_template("legacy", doc)
    result = ChainTemplates(store, REG).load("legacy")
    assert result.unknown_skills == ["retired_skill"]
    assert len(result.chain.nodes) == 3 and result.chain.name == "legacy"


# ------------------------------------------------------------------ recovery, profiles
def test_the_recovery_file_holds_the_unsaved_chain_until_cleared(tmp_path: Path):
    rec = RecoveryFile(tmp_path / "deep" / "recovery.json")
    assert rec.read() is None
    rec.write(abc(), "abc", "/data/tracks.db")
    payload = rec.read()
    assert payload["template"] == "abc" and load_document(payload["document"]).chain == abc()
    (tmp_path / "deep" / "recovery.json").write_text("{half")
    assert rec.read() is None  # a torn file is no recovery, not a crash
    rec.clear()
    assert not rec.exists()


def test_threshold_profiles_are_checked_stored_and_replaced(store: TaskStore):
    profiles = ThresholdProfiles(store, REG)
    profiles.save("stay_detection", "city", {"dist_threshold_m": 50, "time_threshold_s": 600})
    profiles.save("stay_detection", "city", {"dist_threshold_m": 60})
    profiles.save("transport_mode", "city", {"walk_max_mps": 2.0})
    [city] = profiles.list("stay_detection")
    assert city.params == {"dist_threshold_m": 60.0}
    with pytest.raises(ProfileError, match="below its minimum"):
        profiles.save("stay_detection", "tiny", {"dist_threshold_m": 1})
    with pytest.raises(ProfileError, match="unknown skill"):
        profiles.save("nope", "x", {})
    assert profiles.delete("stay_detection", "city")
    assert [p.skill for p in profiles.list()] == ["transport_mode"]


def test_a_chain_run_records_the_threshold_profile_its_params_came_from(store: TaskStore):
    """A node set from a saved profile: its task says which profile (params still rule);
    a profile name nobody saved is no id, and the other nodes have none."""
    profiles = ThresholdProfiles(store, REG)
    city = profiles.save("stay_detection", "city", {"dist_threshold_m": 60})
    profiles.save("transport_mode", "city", {"walk_max_mps": 2.0})
    c = Chain("profiled")
    stay = c.add_node("stay_detection", params={"dist_threshold_m": 60}, registry=REG)
    stay.profile = "city"
    ghost = c.add_node("trip_construction", registry=REG)
    ghost.profile = "deleted meanwhile"
    c.add_node("outlier_detection", registry=REG)
    ids = store.profile_ids([(n.skill, n.profile) for n in c.nodes if n.profile])
    assert ids == {("stay_detection", "city"): city.id}
    records, _ = Engine.chain_records(REG, c, "INCREMENTAL", "local", "test", profile_ids=ids)
    by_skill = {r.skill_name: r for r in records}
    assert by_skill["stay_detection"].threshold_profile_id == city.id
    assert by_skill["stay_detection"].params["dist_threshold_m"] == 60
    assert by_skill["trip_construction"].threshold_profile_id is None
    assert by_skill["outlier_detection"].threshold_profile_id is None
