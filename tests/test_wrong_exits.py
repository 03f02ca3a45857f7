"""Exit codes that said the wrong thing (issue 24): a server's odd answer is not a bad --rate, and a bad --repack value
is a usage error (2), as the README promises. Each test failed before its fix."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _OddUsageServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server (an injected fault) with no tokenizer endpoint whose usage field is text."""

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(200, {"data": [{"id": "odd"}]} if self.path == "/v1/models" else {})

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(200, {})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/completions":
            self._answer(200, {"choices": [{"text": "x"}], "usage": {"prompt_tokens": "lots"}})
        else:
            self._answer(404, {"error": "no such endpoint"})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def odd_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OddUsageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_servers_odd_usage_field_is_not_a_bad_rate(run_meek, odd_server):
    code, _, stderr = run_meek("load", "--url", odd_server, "--rate", "1", "--requests", "1")
    assert code == 1, stderr
    assert "--rate" not in stderr and "Traceback" not in stderr
    assert "\nerror: the server reports no prompt token counts" in "\n" + stderr


@pytest.mark.parametrize("value", ["2", "yes", "0,2"])
def test_a_bad_repack_value_is_a_usage_error(run_meek, value):
    code, stdout, stderr = run_meek("bench", "--repack", value, "-r", "1")
    assert code == 2 and stderr.startswith("error: --repack: expected 0, 1 or 0,1") and not stdout
