"""Issue 25: every file meek writes lands inside the folder it was given, never through a symbolic link planted there
(`meek results upgrade`, result files, `meek report --out`, figures, `meek schema --write`, the rpc-server's log). A
planted link is refused in one line with exit code 1, or, for a measurement, the file goes elsewhere and says where;
the link's target outside is never touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.files import Refused
from harness.results.schema import SCHEMA_VERSION
from harness.results.store import read_result, save_result, write_result
from tests.example_tree import generate

GOLDEN = Path(__file__).parent / "golden"
UNTOUCHED = "the user's own file, outside the tree\n"


@pytest.fixture()
def outside(tmp_path) -> Path:
    """A folder outside every tree a test gives meek, holding one file that must stay as it is."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text(UNTOUCHED)
    return folder


def untouched(outside: Path) -> bool:
    return [p.name for p in outside.iterdir()] == ["precious.txt"] and (outside / "precious.txt").read_text() == UNTOUCHED


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory) -> Path:
    """Three signed, valid result files (one folder per machine)."""
    tree = tmp_path_factory.mktemp("small") / "results"
    generate(tree, count=3, seed=3)
    return tree


def one_line_refusal(code: int, stdout: str, stderr: str, planted: Path, notes: int = 0) -> None:
    """Exit code 1 and one line naming the link (after `notes` lines the command says first)."""
    assert code == 1, stdout + stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1 + notes, stderr
    assert str(planted) in stderr.strip().splitlines()[-1] and "symbolic link" in stderr, stderr


def test_upgrade_never_writes_through_a_link_planted_at_its_temporary_name(run_meek, tmp_path, outside):
    """The old upgrade wrote `a.json.upgrading` with write_text (through the link, into the user's file) and renamed
    the link over a.json: the measurement became a link to a file outside."""
    tree = tmp_path / "results" / "m"
    tree.mkdir(parents=True)
    shutil.copy(GOLDEN / "result-v1-smollm2.json", tree / "a.json")
    measured = json.loads((tree / "a.json").read_text())["runs"]
    (tree / "a.json.upgrading").symlink_to(outside / "precious.txt")
    code, stdout, stderr = run_meek("results", "upgrade", str(tmp_path / "results"))
    assert code == 0 and "1 file(s) upgraded" in stdout, stdout + stderr
    assert untouched(outside)
    assert not (tree / "a.json").is_symlink()
    upgraded = json.loads((tree / "a.json").read_text())
    assert upgraded["schema_version"] == SCHEMA_VERSION
    assert [r["samples_ns"] for r in upgraded["runs"]] == [r["samples_ns"] for r in measured]  # the measurement intact
    code, _, stderr = run_meek("validate", str(tree / "a.json"))
    assert code == 0, stderr


def test_a_result_is_never_written_through_a_linked_machine_folder(small_tree, tmp_path, outside, meek_home):
    """A link planted at results/<machine id>: write_result refuses it; a measurement (save_result) goes to
    $MEEK_HOME/unsaved-results instead, and says so; nothing lands outside."""
    result = read_result(next(small_tree.glob("*/*.json")))
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / result.machine.machine_id).symlink_to(outside, target_is_directory=True)
    with pytest.raises(Refused, match="symbolic link"):
        write_result(result, results_dir)
    said: list[str] = []
    saved = save_result(result, results_dir, said.append)
    assert saved.parent.parent == meek_home / "unsaved-results" and read_result(saved).runs == result.runs
    assert len(said) == 1 and "symbolic link" in said[0] and str(saved) in said[0]
    assert untouched(outside)


def test_report_refuses_an_index_html_linked_outside(run_meek, small_tree, tmp_path, outside):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").symlink_to(outside / "precious.txt")
    code, stdout, stderr = run_meek("report", "--results-dir", str(small_tree), "--out", str(site), timeout=300)
    one_line_refusal(code, stdout, stderr, site / "index.html")
    assert untouched(outside) and (site / "index.html").is_symlink()


@pytest.mark.parametrize("folder", ["assets", "machines"])
def test_report_refuses_a_folder_of_the_site_linked_outside(folder, small_tree, tmp_path, outside):
    from harness.aggregate.tree import load_tree
    from harness.site.build import write_site

    site = tmp_path / "site"
    site.mkdir()
    (site / folder).symlink_to(outside, target_is_directory=True)
    with pytest.raises(Refused, match=f"{site / folder} is a symbolic link"):
        write_site(load_tree([small_tree]), site, frontier_benchmarks=())
    assert untouched(outside)


def test_plot_refuses_a_figure_name_linked_outside(run_meek, small_tree, tmp_path, outside):
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "throughput.png").symlink_to(outside / "precious.txt")
    code, stdout, stderr = run_meek("plot", "throughput", "--results-dir", str(small_tree), "--out", str(plots), timeout=300)
    one_line_refusal(code, stdout, stderr, plots / "throughput.png")
    assert untouched(outside)


def test_schema_write_refuses_a_link(run_meek, tmp_path, outside):
    target = tmp_path / "schema.json"
    target.symlink_to(outside / "precious.txt")
    code, stdout, stderr = run_meek("schema", "--write", str(target))
    one_line_refusal(code, stdout, stderr, target)
    assert untouched(outside)
    code, _, stderr = run_meek("schema", "--write", str(tmp_path / "new" / "schema.json"))
    assert code == 0 and json.loads((tmp_path / "new" / "schema.json").read_text())["title"], stderr


def test_rpc_server_log_is_never_opened_through_a_link(run_meek, meek_home, tmp_path, outside):
    """The background server's log, $MEEK_HOME/rpc/PORT.log, was opened with open(..., "w"): a link planted there
    emptied the file it pointed to. (The binary is `true`: the log is opened before the server starts.)"""
    true = shutil.which("true")
    if true is None:
        pytest.skip("no `true` program")
    (meek_home / "rpc").mkdir(exist_ok=True)
    log = meek_home / "rpc" / "50999.log"
    log.symlink_to(outside / "precious.txt")
    try:
        code, stdout, stderr = run_meek("rpc-server", "--background", "--port", "50999", "--bin", true)
        one_line_refusal(code, stdout, stderr, log, notes=1)  # the note that rpc-server has no authentication
        assert untouched(outside)
    finally:
        log.unlink()
