"""Result files are a stranger's input (issue 14): forgeries physics rules out are refused, and no file makes a command
crash or hang; the genuine files beside them still count."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from harness.results.store import read_result
from harness.results.validate import validate_paths
from tests.forgeries import GENUINE, forged, genuine, resigned, run_named, with_rate, write_corpus

MACHINE = genuine()["machine"]["machine_id"]


def tree_with_genuine(root: Path) -> Path:
    tree = root / "results"
    (tree / MACHINE).mkdir(parents=True)
    shutil.copy(GENUINE, tree / MACHINE / "genuine.json")
    return tree


# ---- 1, 3, 5, 10, 11: every forgery and hostile file is refused with its reason; the genuine one counts ------------
def test_each_forgery_is_refused_with_its_reason_and_the_genuine_file_stands(tmp_path):
    tree = tree_with_genuine(tmp_path)
    expected = write_corpus(tree / MACHINE)
    reports = {r.path: r for r in validate_paths([tree])}
    assert reports[tree / MACHINE / "genuine.json"].ok, reports[tree / MACHINE / "genuine.json"].failures
    for path, reason in expected.items():
        report = reports[path]
        assert not report.ok, path.name
        assert any(reason in failure for failure in report.failures), (path.name, report.failures)


@pytest.mark.parametrize("command", ["validate", "compare", "report", "plot throughput"])
def test_commands_over_a_hostile_tree_go_on_with_the_good_files(run_meek, tmp_path, command):
    tree = tree_with_genuine(tmp_path)
    write_corpus(tree / MACHINE)
    tree_option = [str(tree)] if command == "validate" else ["--results-dir", str(tree)]
    extra = {"report": ["--out", str(tmp_path / "site")], "plot throughput": ["--out", str(tmp_path / "plots")]}
    code, stdout, stderr = run_meek(*command.split(), *tree_option, *extra.get(command, []), timeout=120)
    assert code in (0, 1) and "Traceback" not in stderr, stderr
    if command == "validate":
        assert code == 1 and stdout.count("FAIL ") == len(list((tree / MACHINE).glob("*.json"))) - 1
        assert f"ok   {tree / MACHINE / 'genuine.json'}" in stdout
    elif command == "plot throughput":
        assert code == 0 and "wrote" in stdout
    else:
        assert code == 0 and "left out" in stdout + stderr
    if command == "compare":
        assert "smollm2-135m" in stdout


def test_catalogue_facts_override_the_files_claimed_size(tmp_path):
    """The forged size alone would let 8.3 million t/s through; the catalogue's size for that sha256 does not."""
    from harness.results.document import canonical_text
    from harness.results.plausible import model_facts
    from harness.results.validate import FileReport, Validator

    document = forged(lambda d: d["model"].update(file_size_bytes=1))
    validator = Validator()
    result = validator.check_document(document, canonical_text(document), FileReport(tmp_path / "x.json")).result
    assert result is not None
    facts = model_facts(result, validator.model_of(result))
    assert facts.basis == "catalogue" and facts.bytes_per_token > 9e7


# ---- 2: a copy cannot knock out the original ------------------------------------------------------------------------
def _copy_with_new_details(tree: Path) -> Path:
    copy = tree / "aaa-copy-000000" / "copy.json"
    copy.parent.mkdir()
    copy.write_text(json.dumps(forged(lambda d: d["machine"].update(machine_id="aaa-copy-000000"))))
    return copy


def test_a_copy_with_changed_details_does_not_win_by_path_order(tmp_path):
    tree = tree_with_genuine(tmp_path)
    copy = _copy_with_new_details(tree)  # sorts before the genuine file
    reports = {r.path: r for r in validate_paths([tree])}
    original = reports[tree / MACHINE / "genuine.json"]
    assert not reports[copy].ok and "nothing says which came first" in reports[copy].failures[0]
    assert not original.ok  # with no history, both are left out: never the original alone


def test_git_history_decides_which_is_the_original(tmp_path):
    tree = tree_with_genuine(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run(
        [*git, "commit", "-qm", "genuine", "--date", "2026-01-01T00:00:00"],
        check=True,
        env={**os.environ, "GIT_COMMITTER_DATE": "2026-01-01T00:00:00"},
    )
    copy = _copy_with_new_details(tree)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], check=True)
    reports = {r.path: r for r in validate_paths([tree])}
    assert reports[tree / MACHINE / "genuine.json"].ok
    assert not reports[copy].ok and "git history has first" in reports[copy].failures[0]


def test_an_identical_copy_elsewhere_leaves_the_file_in_its_own_folder(tmp_path):
    tree = tree_with_genuine(tmp_path)
    (tree / "aaa").mkdir()
    shutil.copy(GENUINE, tree / "aaa" / "genuine.json")
    reports = {r.path: r for r in validate_paths([tree])}
    assert reports[tree / MACHINE / "genuine.json"].ok
    assert "counted once" in reports[tree / "aaa" / "genuine.json"].failures[0]


# ---- 4: special files are refused before they are opened -----------------------------------------------------------
def test_fifos_and_device_links_neither_hang_nor_exhaust_memory(run_meek, tmp_path):
    tree = tree_with_genuine(tmp_path)
    os.mkfifo(tree / MACHINE / "x.json")
    (tree / MACHINE / "zero.json").symlink_to("/dev/zero")
    code, stdout, stderr = run_meek("validate", str(tree), timeout=60)
    assert code == 1 and "not a regular file" in stdout and "symbolic link" in stdout, stdout + stderr
    code, _, stderr = run_meek("submit", str(tree / MACHINE / "genuine.json"), "--results-dir", str(tree), timeout=60)
    assert code == 0, stderr  # the placement check reads the machine folder: the link and the FIFO are skipped
    code, _, stderr = run_meek(
        "import", "llama-bench", str(tree / MACHINE / "x.json"), "--results-dir", str(tmp_path / "r"), timeout=60
    )
    assert code == 1 and "not a regular file" in stderr
    code, _, stderr = run_meek("report", "--results-dir", str(tree), "--out", str(tmp_path / "site"), timeout=120)
    assert code == 0, stderr


# ---- 5: machine pages cannot collide --------------------------------------------------------------------------------
def test_machine_pages_are_named_by_the_id_itself(example_tree, tmp_path):
    from harness.aggregate.tree import load_tree
    from harness.site.build import write_site

    tree = load_tree([example_tree])
    write_site(tree, tmp_path / "site", frontier_benchmarks=())
    pages = {p.stem for p in (tmp_path / "site" / "machines").glob("*.html")}
    assert pages == set(tree.runs["machine_id"])


# ---- 6: submit strips every local path ------------------------------------------------------------------------------
def test_submit_strips_every_local_path(run_meek, tmp_path):
    leak = "/home/Ann Smith/models"

    def full_of_paths(d):
        d["model"].update(
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            source=f"path {leak}/x.gguf",
            name=f"converted from {leak}/raw",
            description=f"{leak}/x.gguf",
        )
        d["machine"]["llama_cpp"]["error"] = f"cannot open {leak}/lib/libllama.so: denied"
        d["machine"]["warnings"] = ["C:\\Users\\Ann Smith\\AppData\\x.dll missing", "~/secret/notes.txt"]
        d["machine"]["os"] = {"system": "Linux", "release": "6.1", "home": f"{leak}/.."}
        d["errors"] = [{"stage": "test", "message": f"failed reading {leak}/cache/file.bin"}]
        d["protocol"]["imported_from"] = f"llama-bench -o json, {leak}/out.json"

    source = tmp_path / "mine.json"
    source.write_text(json.dumps(forged(full_of_paths)))
    code, stdout, stderr = run_meek("submit", str(source), "--results-dir", str(tmp_path / "tree"))
    assert code == 0, stderr
    (placed,) = (tmp_path / "tree").glob("*/*.json")
    text = placed.read_text()
    assert "Ann" not in text and "/home" not in text and "Users" not in text and "secret" not in text
    assert "x.gguf" in text and "libllama.so" in text  # the file names stay: they say what ran
    code, stdout, _ = run_meek("validate", str(placed))
    assert code == 0, stdout


# ---- 7: a POST is not followed to another address; the reply is plain text ------------------------------------------
class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()
            return
        body = b"thanks \x1b[2J\x1b]0;pwned\x07 ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_submit_url_follows_no_redirect_and_prints_the_reply_as_text(run_meek):
    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        code, stdout, stderr = run_meek("submit", str(GENUINE), "--url", f"{base}/moved")
        assert code == 1 and "302" in stderr and "was not posted" in stderr and "posted to" not in stdout
        code, stdout, stderr = run_meek("submit", str(GENUINE), "--url", f"{base}/in")
        assert code == 0 and "posted to" in stdout and "\x1b" not in stdout and "\x07" not in stdout, stderr
    finally:
        server.shutdown()


# ---- 8: import llama-bench skips what it cannot use and writes only files that validate ----------------------------
def _records() -> list[dict]:
    lines = (Path(__file__).parent / "fixtures" / "llama-bench" / "smollm2-cpu.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_import_survives_hostile_records_and_writes_only_valid_files(run_meek, tmp_path):
    good = _records()[0]

    def variant(**changes):
        return {**good, **changes}

    hostile = [
        variant(samples_ns=[0, 0]),
        variant(samples_ns=[10**400]),
        variant(model_filename="m" * 5000 + ".gguf"),
        variant(gpu_info="G" * 300),
        variant(gpu_info=",".join(["RTX 4090"] * 65)),
        variant(backends=",".join(f"B{i}" for i in range(17))),
        variant(
            samples_ns=[good["samples_ns"][0]] * 1001,
            avg_ts=(good["n_prompt"] + good["n_gen"]) * 1e9 / good["samples_ns"][0],
            build_commit="x0",
        ),
        variant(model_type="llama <script>alert(1)</script> Q4_1", build_commit="x1"),
        variant(test_time="2099-01-01T00:00:00Z", build_commit="x3"),
    ]
    tokens = good["n_prompt"] + good["n_gen"]
    fast = [max(1, int(tokens * 1e9 / 8e7))] * 2
    hostile.append(variant(samples_ns=fast, avg_ts=tokens * 1e9 / fast[0], build_commit="x4"))
    naive = variant(test_time=good["test_time"].rstrip("Z"))
    escaped = variant(cpu_info="AMD \x1b[31mEPYC", build_commit="x2")  # imported with the escape made a space
    source = tmp_path / "hostile.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [good, naive, escaped, *hostile]))
    code, stdout, stderr = run_meek("import", "llama-bench", str(source), "--results-dir", str(tmp_path / "r"))
    assert code == 0 and "Traceback" not in stderr, stderr
    assert stderr.count("warning: skipped") == len(hostile), stderr
    written = {len(read_result(path).runs) for path in (tmp_path / "r").glob("*/*.json")}
    assert written == {1, 2}  # the good record with its naive-time twin; the escaped one, cleaned
    assert not any("\x1b" in path.read_text() for path in (tmp_path / "r").glob("*/*.json"))
    code, stdout, _ = run_meek("validate", str(tmp_path / "r"))
    assert code == 0, stdout


# ---- 9: an unusable results folder is found before measuring; a failed write falls back -----------------------------
def test_bench_checks_the_results_folder_before_measuring(run_meek, tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    for target in (a_file, a_file / "below"):
        code, _, stderr = run_meek("bench", "-p", "16", "-n", "0", "-r", "1", "--results-dir", str(target))
        assert code == 2 and "loading" not in stderr and "--results-dir" in stderr, stderr
    code, _, stderr = run_meek("submit", str(GENUINE), "--results-dir", str(a_file))
    assert code == 2 and "is a file, not a folder" in stderr


def test_a_failed_write_saves_the_result_elsewhere_and_says_where(tmp_path, meek_home):
    from harness.results.schema import validate_document
    from harness.results.store import save_result

    blocker = tmp_path / "file"
    blocker.write_text("x")
    said = []
    path = save_result(validate_document(genuine()), blocker / "results", said.append)
    assert path.is_file() and path.is_relative_to(meek_home / "unsaved-results")
    assert said and str(path) in said[0] and "could not write" in said[0]


# ---- 10: compare's CSV and markdown carry no formula and no control byte ---------------------------------------------
def test_compare_csv_neutralises_formulas(run_meek, tmp_path):
    tree = tmp_path / "results" / MACHINE
    tree.mkdir(parents=True)
    (tree / "f.json").write_text(json.dumps(forged(lambda d: d["machine"]["cpu"].update(model='=HYPERLINK("http://x")'))))
    code, stdout, stderr = run_meek("compare", "--results-dir", str(tmp_path / "results"), "--format", "csv")
    assert code == 0, stderr
    assert "'=HYPERLINK" in stdout and ",=HYPERLINK" not in stdout


# ---- 11: the smaller ones ---------------------------------------------------------------------------------------------
def test_an_empty_folder_is_not_a_pass(run_meek, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, stderr = run_meek("validate", str(tmp_path / "empty"))
    assert code == 1 and "no result files" in stderr


def test_faster_generation_of_a_genuine_file_is_refused_even_resigned():
    document = genuine()
    with_rate(run_named(document, "tg8"), 2e6)
    path_free = resigned(document)
    from harness.results.document import canonical_text
    from harness.results.validate import FileReport, Validator

    report = Validator().check_document(path_free, canonical_text(path_free), FileReport(Path("x.json")))
    assert any("memory bandwidth" in f for f in report.failures)


def test_the_harness_never_writes_a_file_its_validator_refuses(tmp_path):
    """A crash message caught from llama.cpp may span lines or carry escapes: it is written on one line."""
    from harness.results.schema import validate_document
    from harness.results.store import write_result

    document = genuine()
    document["errors"] = [{"stage": "worker", "message": "llama.cpp said:\n  \x1b[31mboom\x1b[0m\r\n"}]
    path = write_result(validate_document({k: v for k, v in document.items() if k != "content_sha256"}), tmp_path)
    (report,) = validate_paths([path])
    assert report.ok, report.failures
    assert "boom" in read_result(path).errors[0].message
