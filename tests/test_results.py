"""The result file format: schema in step with the shipped JSON Schema, golden files, versions, atomic writes."""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest

from harness.errors import MeekError
from harness.results.schema import SCHEMA_FILE, SCHEMA_VERSION, json_schema, validate_document
from harness.results.store import read_result, result_path, write_result

GOLDEN = Path(__file__).parent / "golden"


def golden_document(name: str = "result-v1-smollm2.json") -> dict:
    return json.loads((GOLDEN / name).read_text())


def test_shipped_schema_matches_the_models():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "regenerate with: meek schema --write harness/data/result.schema.json"
    )


def test_readme_states_the_current_schema_version():
    """A newcomer reads the format's version in the README: it is the one the files are written in."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    stated = re.findall(r"`schema_version` (\d+)|rewrites them as version (\d+)", readme)
    assert stated and all(int(a or b) == SCHEMA_VERSION for a, b in stated), stated


@pytest.mark.parametrize("golden", sorted(p.name for p in GOLDEN.glob("result-v*.json")))
def test_golden_files_validate_with_both_pydantic_and_jsonschema(golden):
    """Every schema version ever written still reads (older ones through their migrations)."""
    document = golden_document(golden)
    if document["schema_version"] == SCHEMA_VERSION:
        jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    result = validate_document(document)
    assert result.schema_version == SCHEMA_VERSION and (result.runs or result.serving)


def test_newer_schema_is_refused_with_upgrade_hint():
    document = golden_document()
    document["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(MeekError, match="upgrade meek-harness"):
        validate_document(document)


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d.pop("schema_version"), "schema_version"),
        (lambda d: d["runs"][0].update(avg_ts=-1.0), "runs.0.avg_ts"),
        (lambda d: d["runs"][0].update(samples_ns=[]), "runs.0: Value error, a run needs its raw samples"),
        (lambda d: d.update(status="great"), "status"),
        (lambda d: d["machine"].update(machine_id="../../etc"), "machine.machine_id"),
        (lambda d: d["model"].update(sha256="xyz"), "model.sha256"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_invalid_documents_name_the_field(mutate, reason):
    document = copy.deepcopy(golden_document())
    mutate(document)
    with pytest.raises(MeekError, match=reason.replace(".", r"\.")):
        validate_document(document, "doc")


def test_write_is_atomic_and_never_overwrites(tmp_path):
    result = validate_document(golden_document())
    first = write_result(result, tmp_path)
    second = write_result(result, tmp_path)
    assert first == result_path(tmp_path, result)
    assert second != first and second.name.endswith("-1.json")
    assert read_result(first) == read_result(second)
    assert read_result(first).model_copy(update={"content_sha256": None}) == result
    assert not list(first.parent.glob(".tmp-*")), "temporary files must not be left behind"


def test_read_result_reports_broken_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(MeekError, match="cannot read JSON"):
        read_result(path)


def test_file_name_cannot_escape_the_results_dir(tmp_path):
    result = validate_document(golden_document())
    result.model.label = "../../evil/name"
    path = result_path(tmp_path, result)
    assert path.parent.parent == tmp_path and ".." not in path.name


def test_written_files_carry_a_content_hash_that_any_edit_breaks(tmp_path):
    from harness.results.document import content_hash

    path = write_result(validate_document(golden_document()), tmp_path)
    document = json.loads(path.read_text())
    assert document["content_sha256"] == content_hash(document)
    document["runs"][0]["avg_ts"] += 0.001
    assert document["content_sha256"] != content_hash(document)
