"""`meek validate` on a results tree mixing real `meek bench` files with broken and tampered ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.results.document import content_hash
from harness.results.schema import SCHEMA_VERSION
from harness.results.stats import summarize

GOLDEN_V1 = Path(__file__).parent / "golden" / "result-v1-smollm2.json"


def resigned(document: dict) -> dict:
    """A tampered document whose content hash was recomputed, as a forger would: only plausibility can catch it."""
    return {**document, "content_sha256": content_hash(document)}


def with_fast_generation(document: dict) -> dict:
    """Generation samples 100,000 times shorter, summaries and hash made consistent: a rate no memory could feed."""
    for run in document["runs"]:
        if run["n_gen"] and not run["n_prompt"]:
            run["samples_ns"] = [max(1, ns // 100_000) for ns in run["samples_ns"]]
            run.update({k: v for k, v in summarize(run["n_gen"], run["samples_ns"]).items() if k in run})
    return resigned(document)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture()
def mixed_tree(tmp_path, real_results) -> tuple[Path, list[Path], dict[str, str]]:
    """results/<machine>/ with the two real files, and beside them one broken file per reason (name -> expected reason)."""
    tree = tmp_path / "results"
    machine_dir = tree / real_results[0].parent.name
    machine_dir.mkdir(parents=True)
    real = [Path(shutil.copy(f, machine_dir / f.name)) for f in real_results]
    good = json.loads(real[0].read_text())

    def variant(edit) -> str:
        document = json.loads(json.dumps(good))
        edit(document)
        return json.dumps(document)

    bad = {
        "a-malformed.json": ('{"schema_version": 2, ', "malformed JSON"),
        "b-wrong-type.json": (variant(lambda d: d["runs"][0].update(avg_ts="fast")), "runs.0.avg_ts"),
        "c-nan.json": (json.dumps(good).replace('"avg_ts": ', '"avg_ts": NaN, "x": ', 1), "NaN is not allowed"),
        "d-huge-float.json": (json.dumps(good).replace('"load_time_ms": ', '"load_time_ms": 1e400, "y": ', 1), "out of range"),
        "e-huge-int.json": (
            json.dumps(good).replace('"n_prompt": ', '"n_prompt": ' + "9" * 5000 + ', "z": ', 1),
            "malformed JSON",
        ),
        "f-deep.json": ('{"schema_version": 2, "x": ' + "[" * 100000 + "]" * 100000 + "}", "nested"),
        "g-script.json": (
            json.dumps(resigned({**good, "model": {**good["model"], "label": "<script>alert(1)</script>"}})),
            "markup, script",
        ),
        "h-traversal.json": (
            json.dumps(resigned({**good, "machine": {**good["machine"], "machine_id": "../../../tmp/evil"}})),
            "machine.machine_id",
        ),
        "i-newer.json": (json.dumps({**good, "schema_version": SCHEMA_VERSION + 1}), "upgrade meek-harness"),
        "j-edited.json": (variant(lambda d: d["runs"][0].update(avg_ts=d["runs"][0]["avg_ts"] * 2)), "was edited"),
        "k-too-fast.json": (json.dumps(with_fast_generation(json.loads(json.dumps(good)))), "memory bandwidth"),
        "l-stats.json": (
            json.dumps(resigned(json.loads(variant(lambda d: d["runs"][0].update(median_ts=d["runs"][0]["median_ts"] + 5))))),
            "median_ts do not follow from the raw samples",
        ),
        "m-future.json": (json.dumps(resigned({**good, "created_utc": "2099-01-01T00:00:00Z"})), "in the future"),
        "n-v1-unsigned.json": (GOLDEN_V1.read_text(), "no content_sha256"),
        "o-not-object.json": ("[1, 2, 3]", "not a JSON object"),
        "zz-copy.json": (json.dumps(good), "duplicate of"),
    }
    expected = {}
    for name, (content, reason) in bad.items():
        write(machine_dir, name, content)
        expected[name] = reason
    with open(machine_dir / "p-50mb.json", "wb") as big:
        big.truncate(50 * 2**20)
    expected["p-50mb.json"] = "over the 5 MiB limit"
    (machine_dir / "q-link.json").symlink_to("/etc/passwd")
    expected["q-link.json"] = "symbolic link"
    return tree, real, expected


def test_validate_accepts_exactly_the_real_files_and_names_every_other_reason(mixed_tree, run_meek):
    tree, real, expected = mixed_tree
    code, stdout, stderr = run_meek("validate", str(tree), "--json")
    assert code == 1, stderr
    verdicts = {Path(v["path"]).name: v for v in json.loads(stdout)}
    assert {name for name, v in verdicts.items() if v["ok"]} == {f.name for f in real}
    for name, reason in expected.items():
        assert not verdicts[name]["ok"], name
        assert any(reason in failure for failure in verdicts[name]["failures"]), (name, verdicts[name]["failures"])
    assert set(verdicts) == {f.name for f in real} | set(expected)


def test_validate_prints_a_readable_report_and_exit_code(mixed_tree, run_meek):
    tree, real, expected = mixed_tree
    code, stdout, _ = run_meek("validate", str(tree))
    assert code == 1
    assert f"{len(real) + len(expected)} file(s): {len(real)} valid" in stdout
    assert "<script>alert(1)</script>" not in stdout  # the forged label is named by its field, never echoed
    assert "g-script.json" in stdout and "markup" in stdout
    code, stdout, _ = run_meek("validate", *map(str, real))
    assert code == 0 and "2 valid" in stdout


def test_validate_missing_path_is_one_clear_line(run_meek):
    code, _, stderr = run_meek("validate", "no/such/folder")
    assert code == 2 and stderr.strip() == "error: no such file or folder: no/such/folder"


def test_real_file_passes_every_plausibility_check(real_results):
    from harness.results.validate import Validator

    for path in real_results:
        report = Validator().check(path)
        assert report.ok, report.failures
        assert report.warnings == []  # the bundled models' sha256 are in the catalogue
