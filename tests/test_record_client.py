"""The record's client side with real parts: `meek submit --url` and `meek record pull` run as a user runs them, against
`meek serve` started by the test over a SQLite file in a temporary folder (tests/test_service.py's Server).

Submit prints the stored result's URL, then that the record has it already; a forged file is refused (here, before
anything is sent; by the record, with its reasons, when a client's catalogue lets it through); a record that wants a
token says so in one line, takes one made by `meek serve tokens create`, and the token is never printed; MEEK_COLLECTOR
and MEEK_TOKEN stand in for --url and --token; a record that is not running is one line. Pull writes the record's files
into an empty tree that `meek validate` and `meek compare` read, a second pull writes nothing, and a pull stopped
halfway keeps whole files only.
"""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.forgeries import PHYSICS, forged
from tests.test_service import Server, _free_port


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    """Signed, valid result files (several machines and models) that no other module's record holds."""
    from harness.results.validate import result_files
    from tests.example_tree import generate

    tree = tmp_path_factory.mktemp("client-files") / "results"
    generate(tree, count=10, seed=43, machines_per_device=1)
    return sorted(result_files([tree]))


@pytest.fixture(scope="module")
def record(meek_home, tmp_path_factory):
    """One `meek serve` for the module, over a SQLite file, taking loopback submissions without a token."""
    folder = tmp_path_factory.mktemp("record")
    server = Server(f"sqlite:///{folder}/record.db", folder).start()
    yield server
    server.stop()


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def filled(record: Server, files: list[Path]) -> int:
    """The record holding files[4:9] (posted straight to the API: the CLI's part is tested elsewhere); its total."""
    for path in files[4:9]:
        assert record.post(path.read_text()).status_code in (200, 201)
    return record.total()


def test_submit_stores_and_prints_the_url_then_says_the_record_has_it(record, files, run_meek):
    code, stdout, stderr = run_meek("submit", str(files[0]), "--url", record.url)
    assert code == 0, stderr
    assert stdout.startswith("stored as result ") and "Traceback" not in stderr
    number = int(stdout.split()[3].rstrip(":"))
    url = f"{record.url}/api/v1/results/{number}"
    assert stdout == f"stored as result {number}: {url}\n"
    stored = json.loads(record.get(f"/api/v1/results/{number}").text)
    assert stored["content_sha256"] == json.loads(files[0].read_text())["content_sha256"]  # nothing to clean in it

    code, stdout, stderr = run_meek("submit", str(files[0]), "--url", f"{record.url}/api/v1/results")  # the full endpoint
    assert code == 0, stderr
    assert stdout == f"already in the record as result {number} (the same file is stored already): {url}\n"


def test_a_forged_file_is_refused_here_and_by_the_record_with_its_reasons(record, files, run_meek, tmp_path):
    edit, reason = PHYSICS["size-1-with-catalogue-sha"]
    source = tmp_path / "forged.json"
    source.write_text(json.dumps(forged(edit)))
    before = record.total()

    code, stdout, stderr = run_meek("submit", str(source), "--url", record.url)
    assert code == 1 and reason in stderr and stdout == ""  # refused by the checks here: nothing is sent
    assert record.total() == before

    # a client whose catalogue says SmolLM2 is a 1000-byte file lets the forgery through; the record's checks do not
    from harness.catalogue.models import load_catalog

    entry = load_catalog().get("smollm2-135m").model_dump(mode="json", exclude_none=True)
    entry.update(params_total_b=1e-6, params_active_b=1e-6, file_size_bytes=1000)
    entry.pop("shape", None)
    lenient = tmp_path / "lenient-home"
    lenient.mkdir()
    (lenient / "models.yaml").write_text(yaml.safe_dump({"models": [entry]}))
    code, stdout, stderr = run_meek("submit", str(source), "--url", record.url, env={"MEEK_HOME": str(lenient)})
    assert code == 1 and stdout == "", stderr
    lines = stderr.strip().splitlines()
    at = lines.index(f"error: the record at {record.url}/api/v1/results refused the file (1 reason(s)):")
    assert reason in lines[at + 1] and lines[at + 1].startswith("  tg8: ")  # the record's own words, one per line
    assert "Traceback" not in stderr and record.total() == before


def invoke(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    """`meek` run in this process (no interpreter start): for the checks around the ones run as a user runs them."""
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_record_that_wants_a_token(meek_home, tmp_path, files, run_meek):
    db = f"sqlite:///{tmp_path}/tokens.db"
    server = Server(db, tmp_path, "--require-token", "--rate-limit", "2").start()
    try:
        code, stdout, stderr = run_meek("submit", str(files[1]), "--url", server.url)
        assert code == 1 and stdout == "" and "Traceback" not in stderr
        assert last_line(stderr) == (
            f"error: the record at {server.url}/api/v1/results needs a token: --token or MEEK_TOKEN (whoever runs it "
            "makes one with `meek serve tokens create NAME`)"
        )
        code, token, stderr = invoke("serve", "tokens", "create", "alice", "--db", db)
        assert code == 0, stderr
        token = token.strip()
        assert token.startswith("meek_")

        code, stdout, stderr = run_meek("submit", str(files[1]), "--url", server.url, "--token", token)
        assert code == 0, stderr
        assert stdout.startswith("stored as result 1: ") and token not in stdout + stderr
        assert server.get("/api/v1/results").json()["results"][0]["sender"] == "alice"

        # MEEK_COLLECTOR and MEEK_TOKEN in place of --url and --token
        code, stdout, stderr = run_meek("submit", str(files[1]), env={"MEEK_COLLECTOR": server.url, "MEEK_TOKEN": token})
        assert code == 0, stderr
        assert stdout.startswith("already in the record as result 1 ") and token not in stdout + stderr

        code, stdout, stderr = invoke("submit", str(files[1]), "--url", server.url, "--token", token + "x")
        assert code == 1 and last_line(stderr).endswith("refused the token (unknown token): check --token or MEEK_TOKEN")
        assert token not in stdout + stderr

        code, stdout, stderr = invoke("submit", str(files[2]), env={"MEEK_COLLECTOR": server.url, "MEEK_TOKEN": token})
        assert code == 1 and stdout == "" and token not in stderr  # the third in a minute: over --rate-limit 2
        line = last_line(stderr)
        assert line.startswith(f"error: the record at {server.url}/api/v1/results takes no more submissions from this")
        assert "may submit 2 files a minute" in line and "(Retry-After " in line
    finally:
        server.stop()


def test_a_record_that_is_not_running_is_one_line(files, run_meek):
    url = f"http://127.0.0.1:{_free_port()}"
    code, stdout, stderr = run_meek("submit", str(files[3]), "--url", url)
    assert code == 1 and stdout == "" and "Traceback" not in stderr
    assert last_line(stderr).startswith(f"error: cannot reach the record at {url}/api/v1/results: ")
    code, stdout, stderr = run_meek("record", "pull", url, "--results-dir", "pulled")
    assert code == 1 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"error: cannot reach the record at {url}/api/v1/results: ")


def test_pull_writes_a_tree_that_validate_and_compare_read_and_a_second_pull_writes_nothing(record, files, run_meek, tmp_path):
    total = filled(record, files)
    pulled = tmp_path / "pulled"
    code, stdout, stderr = run_meek("record", "pull", record.url, "--results-dir", str(pulled))
    assert code == 0, stderr
    where = f"{record.url}/api/v1/results"
    assert stdout == f"pulled {total} result(s) from {where}: {total} written, 0 already here, 0 refused\n"
    written = sorted(pulled.glob("*/*.json"))
    assert len(written) == total and not list(pulled.rglob(".tmp-*"))
    assert all(path.parent.name == json.loads(path.read_text())["machine"]["machine_id"] for path in written)

    code, stdout, stderr = run_meek("validate", str(pulled))
    assert code == 0, stdout + stderr
    assert f"{total} file(s): {total} valid" in stdout
    model = json.loads(files[4].read_text())["model"]["id"]
    code, stdout, stderr = run_meek("compare", "--results-dir", str(pulled), "-m", model, "-f", "json")
    assert code == 0, stderr
    assert json.loads(stdout)

    code, stdout, stderr = run_meek("record", "pull", f"{where}/", "--results-dir", str(pulled))
    assert code == 0, stderr
    assert stdout == f"pulled {total} result(s) from {where}: 0 written, {total} already here, 0 refused\n"
    assert sorted(pulled.glob("*/*.json")) == written


def test_pull_snapshot_refreshes_the_record_compare_reads_outside_a_clone(record, files, run_meek, tmp_path):
    from harness.record import snapshot

    total = filled(record, files)
    home = tmp_path / "home"
    code, stdout, stderr = run_meek("record", "pull", record.url, "--snapshot", env={"MEEK_HOME": str(home)})
    assert code == 0, stderr
    where = f"{record.url}/api/v1/results"
    lines = stdout.splitlines()
    assert lines[0] == f"pulled {total} result(s) from {where}: {total} accepted, 0 refused"
    assert lines[1].startswith(f"record snapshot refreshed from {where}: {total} result file(s), made ")
    assert not (tmp_path / "results").exists()  # --snapshot alone writes no results tree
    packed = snapshot.read(home / snapshot.NAME)
    assert packed.files == total and packed.source == where

    model = json.loads(files[4].read_text())["model"]["id"]
    code, stdout, stderr = run_meek("compare", "-m", model, "-f", "json", env={"MEEK_HOME": str(home)})
    assert code == 0, stderr
    assert f"answering from the record snapshot at {home / snapshot.NAME} ({total} result file(s) from {where}" in stderr
    pulled = tmp_path / "pulled"
    assert run_meek("record", "pull", record.url, "--results-dir", str(pulled))[0] == 0
    code, expected, _ = run_meek("compare", "-m", model, "-f", "json", "--results-dir", str(pulled))
    assert json.loads(stdout) == json.loads(expected)


def _pull(url: str, folder: Path) -> tuple[int, str, str]:
    """`meek record pull` in this process (to stop it at a chosen file); (exit code, stdout, stderr)."""
    from harness.commands.record import pull
    from harness.output import Output

    stdout, stderr = io.StringIO(), io.StringIO()
    code = pull(url, folder, Output(stdout, stderr))
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_pull_stopped_halfway_keeps_whole_files_and_the_next_one_finishes(record, files, tmp_path, monkeypatch):
    from harness.errors import MeekError
    from harness.results.remote import RecordReader

    total = filled(record, files)
    assert total >= 4
    real = RecordReader.document
    calls = []

    def stopping(failure: BaseException):
        def document(self, result_id):
            calls.append(result_id)
            if len(calls) == 3:
                raise failure
            return real(self, result_id)

        return document

    pulled = tmp_path / "pulled"
    monkeypatch.setattr(RecordReader, "document", stopping(KeyboardInterrupt()))
    code, stdout, stderr = _pull(record.url, pulled)
    assert code == 130 and stdout == ""
    assert f"interrupted after 2 of {total} result(s)" in stderr and "run the same pull again" in stderr
    assert len(list(pulled.glob("*/*.json"))) == 2 and not [p for p in pulled.rglob("*") if p.name.startswith(".")]

    calls.clear()
    monkeypatch.setattr(RecordReader, "document", stopping(MeekError("the record stopped answering")))
    with pytest.raises(MeekError, match="the record stopped answering .the files written so far stay"):
        _pull(record.url, pulled)
    assert len(list(pulled.glob("*/*.json"))) == 2  # the first two were there already; nothing new was written

    monkeypatch.setattr(RecordReader, "document", real)
    code, stdout, _ = _pull(record.url, pulled)
    assert code == 0 and stdout.endswith(f"{total - 2} written, 2 already here, 0 refused\n")
    assert len(list(pulled.glob("*/*.json"))) == total


def test_a_pulled_copy_of_a_file_the_tree_holds_under_other_details_is_already_here(record, files, tmp_path):
    """The submitter's own file, before submit cleaned its local paths, holds the same raw samples: not written again
    (validate would refuse both as copies of each other)."""
    from harness.results.schema import validate_document
    from harness.results.store import write_result

    total = filled(record, files)
    original = json.loads(files[4].read_text())
    original["model"]["source"] = "path /home/alice/models/x.gguf"
    tree = tmp_path / "results"
    write_result(validate_document({k: v for k, v in original.items() if k != "content_sha256"}), tree)
    code, stdout, _ = _pull(record.url, tree)
    assert code == 0 and stdout.endswith(f"{total - 1} written, 1 already here, 0 refused\n")
    assert len(list(tree.glob("*/*.json"))) == total


class FakeRecord(BaseHTTPRequestHandler):
    """Not a meek serve: HTML where the listing should be, or a listing of one forged file."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/html/"):
            body, kind = b"<html><body>hello</body></html>", "text/html"
        elif self.path.startswith("/forged/api/v1/results?"):
            body, kind = json.dumps({"total": 1, "limit": 500, "offset": 0, "results": [{"id": 1}]}).encode(), "application/json"
        else:
            body, kind = json.dumps(forged(PHYSICS["power-50-kw"][0])).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_pull_from_something_that_is_not_a_record(tmp_path):
    from harness.errors import MeekError

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRecord)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(MeekError, match="did not answer with a listing of results: is it a meek serve"):
            _pull(f"{base}/html/", tmp_path / "a")
        code, stdout, stderr = _pull(f"{base}/forged", tmp_path / "b")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1 and stdout.endswith("0 written, 0 already here, 1 refused\n")
    assert "warning: refused result 1 of" in stderr and "above 2000 W" in stderr
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").rglob("*.json"))


def test_help_teaches_with_examples():
    code, pull, _ = invoke("record", "pull", "--help", env={"COLUMNS": "200"})
    assert code == 0 and "meek record pull http://127.0.0.1:8765 --results-dir results" in pull and "MEEK_COLLECTOR" in pull
    code, submit, _ = invoke("submit", "--help", env={"COLUMNS": "200"})
    assert code == 0 and "--url http://127.0.0.1:8765" in submit and "MEEK_TOKEN" in submit and "never printed" in submit
    code, listed, _ = invoke("--help", env={"COLUMNS": "200"})
    assert code == 0 and "record" in listed
