"""Issue 25, round 2: servers that answer badly on purpose. Each hostile server here is a real HTTP server on 127.0.0.1
(http.server in a thread) that `meek bench --backend openai|ollama` and `meek load` talk to as to any other; every test
failed before its fix."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.errors import MeekError

KEY = "sk-meek-test-5ecret-key"


class Hostile(BaseHTTPRequestHandler):
    """An OpenAI-compatible (and Ollama-like) server whose answers come from `self.server.plan` (a dict):

    model_id        the id /v1/models lists (and /api/tags names)
    completion      "ok", "endless" (SSE chunks forever), "silent" (accepts, never answers), "status500", "list"
    timings         a dict put in the stream's last event (llama-server's `timings`)
    usage           a dict answered by a non-streamed completion (the token count without a tokenizer endpoint)
    tokenize        False: no tokenizer endpoint (404)
    error_body      the body of a 500 answer
    ollama          a dict merged into /api/generate's answer
    redirect        a URL every request is sent to with a 302
    fail_pp_with    a body answered with HTTP 500 to every request for one token (a pp test's, a token count's)
    endless_models  "slow" or "fast": /v1/models answers a body that never ends, trickling or as fast as it can
    """

    protocol_version = "HTTP/1.0"  # a response ends when the connection closes: no length needed for endless streams

    @property
    def plan(self) -> dict:
        return self.server.plan  # type: ignore[attr-defined]

    def _answer(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _seen(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]

    def _redirected(self) -> bool:
        if not self.plan.get("redirect"):
            return False
        self.send_response(302)
        self.send_header("Location", self.plan["redirect"] + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
        self._seen()
        self._answer(200, {})

    def do_GET(self) -> None:  # noqa: N802
        self._seen()
        if self._redirected():
            return
        model = self.plan.get("model_id", "fake")
        if self.path == "/v1/models" and self.plan.get("endless_models"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            slow = self.plan["endless_models"] == "slow"
            try:
                while not self.server.stop.is_set():  # type: ignore[attr-defined]
                    self.wfile.write(b'{"data": [' if slow else b" " * 2**20)
                    time.sleep(0.01 if slow else 0)
            except OSError:  # the client hung up
                pass
        elif self.path == "/v1/models":
            self._answer(200, self.plan.get("models", {"data": [{"id": model}]}))
        elif self.path == "/api/tags":
            self._answer(200, {"models": [{"name": model, "model": model}]})
        else:
            self._answer(404, {"error": "no such endpoint"})

    def do_POST(self) -> None:  # noqa: N802
        self._seen()
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self._redirected():
            return
        if self.path in ("/tokenize", "/extras/tokenize") and self.plan.get("tokenize", True):
            text = request.get("content") or request.get("input") or ""
            self._answer(200, {"tokens": [1] * len(text.split())})
        elif self.path == "/v1/completions":
            self._completion(request)
        elif self.path == "/api/generate" and self.plan.get("fail_pp_with") and request["options"]["num_predict"] == 1:
            self._answer(500, self.plan["fail_pp_with"], "text/html")
        elif self.path == "/api/generate":
            generated = request["options"]["num_predict"]
            reply = {
                "model": request["model"],
                "done": True,
                "prompt_eval_count": len(request["prompt"].split()),
                "prompt_eval_duration": 2_000_000,
                "eval_count": generated,
                "eval_duration": generated * 10_000_000,
            }
            self._answer(200, {**reply, **self.plan.get("ollama", {})})
        else:
            self._answer(404, {"error": "no such endpoint"})

    def _completion(self, request: dict) -> None:
        mode = self.plan.get("completion", "ok")
        if not request.get("stream"):
            usage = self.plan.get("usage", {"prompt_tokens": len(request["prompt"].split())})
            self._answer(200, {"choices": [{"text": "x"}], "usage": usage})
        elif mode == "silent":
            self.server.stop.wait(120)  # type: ignore[attr-defined]
        elif self.plan.get("fail_pp_with") and request.get("max_tokens") == 1:
            self._answer(500, self.plan["fail_pp_with"], "text/html")
        elif mode == "status500":
            self._answer(500, self.plan.get("error_body", "internal error"), "text/html")
        elif mode == "list":
            self._answer(200, [{"choices": [{"text": "x"}]}] * 3)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                self._stream(request, mode)
            except OSError:  # the client hung up
                pass

    def _stream(self, request: dict, mode: str) -> None:
        def event(document: dict) -> None:
            self.wfile.write(f"data: {json.dumps(document)}\n\n".encode())
            self.wfile.flush()

        count = 0
        while mode == "endless" and not self.server.stop.is_set():  # type: ignore[attr-defined]
            event({"choices": [{"text": "x"}]})
            count += 1
            time.sleep(0.005)
        for _ in range(request.get("max_tokens", 1) if mode == "ok" else 0):
            event({"choices": [{"text": "x"}]})
        event({"choices": [{"text": ""}], "timings": self.plan.get("timings", {"prompt_ms": 2.0})})
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def hostile():
    """Start a hostile server: hostile(**plan) -> (its URL, the server: .plan can be changed, .seen lists requests)."""
    started = []

    def start(**plan):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        server.daemon_threads = True
        server.plan, server.seen, server.stop = plan, [], threading.Event()  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in started:
        server.stop.set()
        server.shutdown()
        server.server_close()


def results_of(folder) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*/*.json"))]


def bench(run_meek, url: str, results, *extra: str, key: str | None = KEY, backend: str = "openai"):
    env = {"MEEK_API_KEY": key} if key else None
    args = ("bench", "--backend", backend, "--url", url, "-p", "4", "-n", "4", "-r", "1", "--results-dir", str(results))
    return run_meek(*args, *extra, env=env, timeout=120)


def load(run_meek, url: str, results, *extra: str, timeout: float = 120):
    args = ("load", "--url", url, "-p", "4", "-n", "4", "--results-dir", str(results), *extra)
    started = time.monotonic()
    code, stdout, stderr = run_meek(*args, env={"MEEK_API_KEY": KEY}, timeout=timeout)
    return code, stdout, stderr, time.monotonic() - started


def one_line_errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# ---- 1: every number a server reports is checked before use; a bad one fails its test, the finished ones are saved ---
def test_a_bad_prompt_time_fails_only_the_pp_test_and_tg_is_saved(run_meek, hostile, tmp_path):
    """An integer of 400 digits overflowed the float it was scaled by (a traceback, nothing saved) before the fix."""
    for index, prompt_ms in enumerate([10**400, -5, "12", float("nan"), 1e308, [3], {"ms": 3}]):
        url, _ = hostile(timings={"prompt_ms": prompt_ms}, model_id="fake-model")
        code, _, stderr = bench(run_meek, url, tmp_path / str(index), "-m", "fake-model")
        errors = one_line_errors(stderr)
        assert code == 1 and len(errors) == 1 and errors[0].startswith("error: pp4: the server reported timings.prompt_ms")
        (document,) = results_of(tmp_path / str(index))
        assert [r["test"] for r in document["runs"]] == ["tg4"] and document["status"] == "partial"


@pytest.mark.parametrize(
    ("usage", "said"),
    [
        (-(10**12), "usage.prompt_tokens = -1000000000000 is not a token count"),
        ("lots", "usage.prompt_tokens = 'lots' is not a token count"),
        (10**400, "usage.prompt_tokens = an integer of 401 digits"),
        (3.5, "usage.prompt_tokens = 3.5 is not a token count"),
    ],
)
def test_a_bad_usage_count_is_one_line_naming_it(run_meek, hostile, tmp_path, usage, said):
    url, _ = hostile(tokenize=False, usage={"prompt_tokens": usage})
    code, _, stderr = bench(run_meek, url, tmp_path / "bench", "-m", "fake")
    assert code == 1 and said in stderr and len(one_line_errors(stderr)) == 1, stderr
    assert [r["test"] for r in results_of(tmp_path / "bench")[0]["runs"]] == ["tg4"]  # the tg test still ran and was kept
    code, _, stderr, _ = load(run_meek, url, tmp_path / "load", "--concurrency", "1", "--requests", "1")
    assert code == 1 and said in stderr and "--rate" not in stderr and len(one_line_errors(stderr)) == 1, stderr


def test_ollamas_numbers_are_checked_too(run_meek, hostile, tmp_path):
    url, _ = hostile(model_id="fake:latest", ollama={"prompt_eval_duration": 10**400, "eval_count": "4"})
    code, _, stderr = bench(run_meek, url, tmp_path / "r", "-m", "fake", backend="ollama")
    errors = one_line_errors(stderr)
    assert code == 1 and "prompt_eval_duration = an integer of 401 digits" in errors[0], stderr
    assert "eval_count = '4', not a token count" in errors[1]


def test_a_model_the_server_refuses_after_the_first_keeps_the_first_models_file(run_meek, hostile, tmp_path):
    url, _ = hostile(models={"data": [{"id": "one"}, {"id": "two"}]})
    code, stdout, stderr = bench(run_meek, url, tmp_path / "r", "-m", "one,three")
    errors = one_line_errors(stderr)
    assert code == 1 and errors == ["error: three: the server does not serve 'three'; it serves: one, two"], stderr
    (document,) = results_of(tmp_path / "r")
    assert document["model"]["label"] == "one" and len(document["runs"]) == 2


# ---- 2: meek load ends each request and each point at a deadline, whatever the server does ---------------------------
@pytest.mark.parametrize(
    ("completion", "mode"),
    [("endless", ["--concurrency", "2"]), ("silent", ["--concurrency", "1"]), ("endless", ["--rate", "0.02"])],
    ids=["endless-stream", "silent", "endless-at-a-slow-rate"],
)
def test_load_ends_a_point_at_its_deadline_and_counts_the_cut_requests(run_meek, hostile, tmp_path, completion, mode):
    url, _ = hostile(completion=completion)
    code, stdout, stderr, took = load(run_meek, url, tmp_path, *mode, "--seconds", "2", timeout=90)
    assert took < 20, f"took {took:.0f} s"  # warm-up 2 s, the point 2 s + 2 s, and the start-up
    errors = one_line_errors(stderr)
    assert code == 1 and len(errors) == 1 and "every request failed" in errors[0], stderr
    assert "deadline" in errors[0] or "did not answer in time" in errors[0]
    (document,) = results_of(tmp_path)
    (point,) = document["serving"]
    assert point["requests"] >= 1 and point["errors"] == point["requests"] and document["status"] == "partial"


def test_request_seconds_cuts_each_request_well_before_the_point_ends(run_meek, hostile, tmp_path):
    """--request-seconds 1 against a silent server: each request is cut after 1 s, so a 20 s point sends many, not one."""
    url, _ = hostile(completion="silent")
    code, _, stderr, took = load(
        run_meek, url, tmp_path, "--concurrency", "1", "--seconds", "6", "--request-seconds", "1", timeout=90
    )
    assert code == 1 and took < 30, (took, stderr)
    (document,) = results_of(tmp_path)
    (point,) = document["serving"]
    assert point["requests"] >= 3 and point["errors"] == point["requests"]  # 6 s of 1 s requests, each one cut


@pytest.mark.parametrize(("pace", "said"), [("slow", "was still answering after 10 s"), ("fast", "answered over 64 MiB")])
def test_an_answer_that_never_ends_is_cut_in_time_and_in_size(run_meek, hostile, tmp_path, pace, said):
    url, _ = hostile(endless_models=pace)
    started = time.monotonic()
    code, _, stderr = bench(run_meek, url, tmp_path, "-m", "fake")
    assert time.monotonic() - started < 30 and code == 1, stderr
    assert one_line_errors(stderr) == [f"error: the server at {url}/v1/models {said}: cut off"], stderr


def test_a_stream_of_lists_or_no_events_is_a_counted_error_that_says_so(run_meek, hostile, tmp_path):
    url, server = hostile(completion="list")
    code, _, stderr, _ = load(run_meek, url, tmp_path, "--concurrency", "1", "--requests", "2", "--seconds", "5")
    assert code == 1 and "answered with no server-sent event" in one_line_errors(stderr)[0], stderr
    (point,) = results_of(tmp_path)[0]["serving"]
    assert point["requests"] == point["errors"] == 2


def test_a_stream_whose_events_are_lists_is_an_error_not_nothing():
    from harness.http import Client

    class Lists(Hostile):
        def _stream(self, request, mode):
            self.wfile.write(b'data: [{"choices": [{"text": "x"}]}]\n\ndata: [DONE]\n\n')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Lists)
    server.plan, server.seen, server.stop = {}, [], threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Client(f"http://127.0.0.1:{server.server_address[1]}") as client:
            with pytest.raises(MeekError, match="streamed a list, not an event object"):
                list(client.events("/v1/completions", {"stream": True}))
    finally:
        server.shutdown()
        server.server_close()


# ---- 2: the key is never sent to another address ------------------------------------------------------------------
def test_a_redirect_to_another_port_is_not_followed_and_the_key_goes_nowhere_else(run_meek, hostile, tmp_path):
    elsewhere, other = hostile()
    url, first = hostile(redirect=elsewhere)
    code, _, stderr = bench(run_meek, url, tmp_path, "-m", "fake")
    assert code == 1 and "answered HTTP 302" in stderr and "redirects are not followed" in stderr, stderr
    code, _, stderr, _ = load(run_meek, url, tmp_path, "--concurrency", "1")
    assert code == 1 and "redirects are not followed" in stderr, stderr
    assert first.seen and not other.seen  # the key reached the address it was given for, and no other
    assert KEY not in stderr


# ---- 2: a model name given on the command line is saved as typed: markup in it is refused in one line --------------
@pytest.mark.parametrize("name", ["<script>x</script>", "evil\u202emodel", "two\nlines", "javascript:alert(1)"])
def test_a_model_name_with_markup_is_refused_in_one_line(run_meek, hostile, tmp_path, name):
    url, server = hostile()
    code, stdout, stderr = bench(run_meek, url, tmp_path, "-m", name)
    assert code == 2 and stderr.startswith("error: -m: ") and "markup or control characters" in stderr, stderr
    code, _, stderr, _ = load(run_meek, url, tmp_path, "-m", name, "--concurrency", "1")
    assert code == 2 and stderr.startswith("error: -m: ") and len(stderr.splitlines()) == 1, stderr
    assert not server.seen and not list(tmp_path.glob("*/*.json"))


# ---- 3: submit shares no local path, whatever its shape -------------------------------------------------------------
LEAKS = [
    "model:/home/annleak/models/x.gguf",
    "file:///home/annleak/models/x.gguf",
    "file://localhost/home/annleak/models/x.gguf",
    "file:///C:/Users/annleak/models/x.gguf",
    "~annleak/models/x.gguf",
    "~/models/x.gguf",
    "/root/annleak/models/x.gguf",
    "/Users/annleak/models/x.gguf",
    "C:\\Users\\annleak\\models\\x.gguf",
    "\\\\fileserver\\annleak\\models\\x.gguf",
]


def test_every_shape_of_local_path_is_cut_to_its_file_name():
    from harness.results.submit import without_local_paths

    for leak in LEAKS:
        assert without_local_paths(f"loaded {leak} fine") in ("loaded x.gguf fine", "loaded model:x.gguf fine"), leak
    assert without_local_paths("see https://example.com/a/b and http://127.0.0.1:8080/v1") == (
        "see https://example.com/a/b and http://127.0.0.1:8080/v1"
    )


class Collector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.server.posted.append(self.rfile.read(int(self.headers["Content-Length"])).decode())  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_submit_url_posts_no_local_path_of_any_shape(run_meek, tmp_path):
    from tests.forgeries import forged

    def full_of_paths(d):
        d["model"]["source"] = " ".join(LEAKS[:4])
        d["machine"]["warnings"] = LEAKS[4:]
        d["errors"] = [{"stage": "test", "message": f"cannot open {leak}"} for leak in LEAKS]

    source = tmp_path / "mine.json"
    source.write_text(json.dumps(forged(full_of_paths)))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    server.posted = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, stdout, stderr = run_meek("submit", str(source), "--url", f"http://127.0.0.1:{server.server_address[1]}/in")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, stderr
    (posted,) = server.posted  # type: ignore[attr-defined]
    assert "annleak" not in posted and "/home" not in posted and "Users" not in posted and "/root" not in posted
    assert "file:" not in posted and "~" not in posted and "x.gguf" in posted
