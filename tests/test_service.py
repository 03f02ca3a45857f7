"""`meek serve` with real parts: the service started by the test as `meek serve` (uvicorn on 127.0.0.1) over a real
SQLite file and a real PostgreSQL cluster (tests/postgres.py), spoken to over HTTP. The same API tests run on both
databases: ingest accepted, duplicate and refused; 20 concurrent submissions of 4 files; a body over the size cap;
tokens; a server killed with SIGKILL mid-ingest; compare and advise equal to the CLI's JSON over the same tree."""

from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness.results.reading import MAX_FILE_BYTES
from tests.forgeries import PHYSICS, forged, resigned
from tests.postgres import cluster, create_database

BACKENDS = ["sqlite", "postgresql"]
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`meek serve` in a child process on a free loopback port, with its output in files (a full pipe never blocks it)."""

    def __init__(self, db: str, folder: Path, *options: str):
        self.db, self.folder, self.options = db, folder, options
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 90) -> Server:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        number = next(_names)
        self.log = self.folder / f"serve-{number}.err"
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "serve", "--db", self.db, "--port", str(port), *self.options],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=self.folder,
                env={**os.environ, "TMPDIR": str(self.folder)},  # a killed server's private ingest folder stays in the test's
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"meek serve exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"meek serve did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(15)

    def post(self, body: bytes | str, **headers: str) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        return httpx.post(
            self.url + "/api/v1/results", content=content, headers={"Content-Type": "application/json", **headers}, timeout=60
        )

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=120)

    def total(self) -> int:
        return self.get("/api/v1/results", limit=1).json()["total"]


@pytest.fixture(scope="module")
def postgres_base():
    with cluster() as base:
        yield base


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def new_db(backend, request, tmp_path_factory):
    """A function giving a fresh, empty database of this module's backend."""

    def make() -> str:
        number = next(_names)
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('record')}/record-{number}.db"
        return create_database(request.getfixturevalue("postgres_base"), f"meek_{number}")

    return make


@pytest.fixture(scope="module")
def servers(meek_home):
    """Every server a module test started, stopped when the module ends whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def service(new_db, servers, tmp_path_factory) -> Server:
    server = Server(new_db(), tmp_path_factory.mktemp("serve")).start()
    servers.append(server)
    return server


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[str]:
    """Signed, valid result files no other test uses, as the text a client sends."""
    from harness.results.validate import result_files
    from tests.example_tree import generate

    tree = tmp_path_factory.mktemp("submissions") / "results"
    generate(tree, count=40, seed=26, machines_per_device=1)
    return [path.read_text() for path in result_files([tree])]


def test_ingest_accepted_duplicate_and_refused(service, files):
    before = service.total()
    text = files[0]
    stored = service.post(text)
    assert stored.status_code == 201, stored.text
    answer = stored.json()
    assert answer["existing"] is False and answer["url"] == f"{service.url}/api/v1/results/{answer['id']}"
    assert service.get(f"/api/v1/results/{answer['id']}").text == text  # the file as it was received

    again = service.post(text)
    assert again.status_code == 200 and again.json()["id"] == answer["id"] and again.json()["existing"] is True
    document = json.loads(text)
    copied = resigned({**copy.deepcopy(document), "created_utc": "2025-05-30T10:00:00Z"})  # other details, same samples
    copy_answer = service.post(json.dumps(copied))
    assert copy_answer.status_code == 200, copy_answer.text
    assert copy_answer.json()["id"] == answer["id"] and "raw samples" in copy_answer.json()["reason"]

    edit, reason = PHYSICS["size-1-with-catalogue-sha"]
    refused = service.post(json.dumps(forged(edit)))  # a forgery with its hash recomputed: only physics can tell
    assert refused.status_code == 422
    assert any(reason in line for line in refused.json()["reasons"])
    edited = service.post(text.replace('"median_ts": ', '"median_ts": 1', 1))  # an edit without a new hash
    assert edited.status_code == 422 and any("content_sha256" in line for line in edited.json()["reasons"])
    twice = service.post(text[:-1] + ', "status": "failed"}')
    assert twice.status_code == 422 and "appears twice" in " ".join(twice.json()["reasons"])

    assert service.total() == before + 1  # the refused and the copies are absent
    listing = service.get("/api/v1/results", limit=500).json()["results"]
    mine = next(row for row in listing if row["id"] == answer["id"])
    assert mine["sender"] == "loopback" and mine["received_utc"]
    assert set(mine) == {"id", "machine_id", "model", "created_utc", "received_utc", "sender", "url"}  # no address
    assert service.get("/api/v1/results/999999").status_code == 404


def test_twenty_concurrent_submissions_of_four_files_store_four(service, files):
    before = service.total()
    bodies = files[1:5] * 5
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(service.post, bodies))
    assert sorted(a.status_code for a in answers) == [200] * 16 + [201] * 4, [a.text[:200] for a in answers]
    ids = {body: {a.json()["id"] for a, b in zip(answers, bodies) if b == body} for body in files[1:5]}
    assert all(len(found) == 1 for found in ids.values())  # each file one id, whichever answer carried it
    assert len(set().union(*ids.values())) == 4
    assert service.total() == before + 4


def test_a_body_over_the_cap_is_refused_before_it_is_read(service):
    before = service.total()
    with socket.create_connection(("127.0.0.1", int(service.url.rsplit(":", 1)[1])), timeout=20) as connection:
        connection.sendall(
            b"POST /api/v1/results HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_FILE_BYTES + 1}\r\n\r\n".encode()
            + b'{"schema_version": 3'
        )  # the rest of the body is never sent: an answer proves the server did not wait to read it
        head = connection.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert service.total() == before


def test_loopback_submits_without_a_token_but_a_proxied_request_needs_one(service, files):
    forwarded = service.post(files[5], **{"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 401 and forwarded.headers["WWW-Authenticate"] == "Bearer"
    assert service.post(files[5], Authorization="Bearer meek_not-a-token").status_code == 401
    assert service.post(files[5]).status_code == 201


def test_tokens_are_required_hashed_and_rate_limited(new_db, servers, tmp_path_factory, files, backend):
    folder = tmp_path_factory.mktemp("tokens")
    db = new_db()
    server = Server(db, folder, "--require-token", "--rate-limit", "3").start()
    servers.append(server)
    refused = server.post(files[6])
    assert refused.status_code == 401 and "token" in refused.json()["detail"]

    made = subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "tokens", "create", "alice", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("meek_") and len(made.stdout.splitlines()) == 1
    stored = server.post(files[6], Authorization=f"Bearer {token}")
    assert stored.status_code == 201, stored.text
    row = server.get("/api/v1/results").json()["results"][0]
    assert row["sender"] == "alice"
    assert server.post(files[6], Authorization="Bearer meek_wrong").status_code == 401
    assert [server.post(files[6], Authorization=f"Bearer {token}").status_code for _ in range(3)] == [200, 200, 429]

    if backend == "sqlite":  # the token itself is nowhere in the database file, only its hash
        path = Path(db.removeprefix("sqlite:///"))
        assert all(token.encode() not in p.read_bytes() for p in path.parent.glob(path.name + "*"))

    def tokens(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "harness.cli", "serve", "tokens", *args, "--db", db]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    listed = tokens("list")
    assert listed.returncode == 0 and "alice" in listed.stdout and token not in listed.stdout + listed.stderr
    assert tokens("revoke", "alice").returncode == 0
    assert server.post(files[7], Authorization=f"Bearer {token}").status_code == 401  # revoked: refused at once
    assert server.get("/api/v1/results").json()["results"][0]["sender"] == "alice"  # what it sent stays, under its name
    again = tokens("revoke", "alice")
    assert again.returncode == 1 and again.stderr.startswith("error: no token named 'alice'")


def test_a_server_killed_mid_ingest_keeps_every_acknowledged_result(new_db, servers, tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("killed")
    db = new_db()
    server = Server(db, folder).start()
    servers.append(server)
    bodies = files[10:40]
    acknowledged: dict[int, str] = {}
    lock = threading.Lock()

    def submit(part: list[str]) -> None:
        for body in part:
            try:
                answer = server.post(body)
            except httpx.TransportError:
                return  # the server is gone
            if answer.status_code == 201:
                with lock:
                    acknowledged[answer.json()["id"]] = body

    threads = [threading.Thread(target=submit, args=(bodies[i::3],)) for i in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # mid-ingest: other submissions are in flight
    for thread in threads:
        thread.join(60)
    assert 6 <= len(acknowledged) < len(bodies)

    again = Server(db, folder).start()
    servers.append(again)
    for result_id, body in acknowledged.items():
        assert again.get(f"/api/v1/results/{result_id}").text == body
    assert {again.post(body).status_code for body in bodies} <= {200, 201}  # the rest goes in; nothing is stored twice
    assert again.total() == len(bodies)


@pytest.fixture(scope="module")
def cli_answers(example_tree, meek_home, tmp_path_factory) -> dict:
    """`meek compare` and `meek advise` --format json over the example tree, run once as a user would."""
    from harness.aggregate.tree import load_tree

    runs = load_tree([example_tree]).runs
    model = runs["model"].value_counts().index[0]
    devices = list(runs[runs["model"] == model]["device_id"].dropna().value_counts().index[:2])
    questions = {
        "compare": ["compare", "-m", model],
        "pair": ["compare", "-m", model, "--devices", ",".join(devices)],
        "advise": ["advise", "-m", model],
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "harness.cli", *args, "--results-dir", str(example_tree), "-f", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in questions.items()
    }
    answers = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        answers[name] = json.loads(stdout)
    return {"model": model, "devices": ",".join(devices), **answers}


def test_compare_and_advise_answer_as_the_cli_does(new_db, servers, tmp_path_factory, example_tree, cli_answers):
    server = Server(new_db(), tmp_path_factory.mktemp("imported"), "--import", str(example_tree)).start()
    servers.append(server)
    count = sum(1 for _ in example_tree.rglob("*.json"))
    assert server.total() == count
    assert "stored" in server.log.read_text()  # the import's summary
    page = server.get("/api/v1/results", limit=10, offset=count - 3).json()
    assert page["total"] == count and len(page["results"]) == 3

    model = cli_answers["model"]
    assert cli_answers["compare"]["speed"] and cli_answers["pair"]["side_by_side"] and cli_answers["advise"]["devices"]
    assert server.get("/api/v1/compare", model=model).json() == cli_answers["compare"]
    assert server.get("/api/v1/compare", model=model, devices=cli_answers["devices"]).json() == cli_answers["pair"]
    assert server.get("/api/v1/advise", model=model).json() == cli_answers["advise"]
    unknown = server.get("/api/v1/advise", model="no-such-model")
    assert unknown.status_code == 400 and "unknown model" in unknown.json()["detail"]
    assert "/api/v1/compare" in server.get("/openapi.json").json()["paths"]
    assert server.get("/docs").status_code == 200


def test_the_migrations_make_the_tables_the_code_uses(tmp_path):
    """Alembic's comparison of the migrated database with harness/record/tables.py finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from harness.record.database import open_record
    from harness.record.tables import metadata

    engine = open_record(f"sqlite:///{tmp_path}/record.db")
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_a_database_that_cannot_be_opened_is_one_line(run_meek, tmp_path):
    code, _, err = run_meek("serve", "--db", f"sqlite:///{tmp_path}/no/such/folder/record.db", timeout=60)
    assert code == 1 and err.count("\n") == 1 and "cannot open the record" in err
