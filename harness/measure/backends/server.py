"""Benchmarks through a running server: any OpenAI-compatible one (llama-server, llama-cpp-python's server, LM Studio,
vLLM) or Ollama. The same test shapes as in process, each sample timed as the server lets us see it.

OpenAI-compatible: a prompt test's sample is the server's own prompt time (llama-server's `timings.prompt_ms`) where
given, else the stream time from sending the request to the first token; a generation test's sample is the stream time
from the first to the last token. Ollama: its reported prompt_eval and eval durations. Each repetition gets a different
prompt with the same token count, so no server answers from its prompt cache.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.errors import MeekError, UsageError

WORDS = (  # noqa: SIM905 (a sentence of words reads better than a list literal of 64 strings)
    "river stone market window garden silver morning yellow music paper summer forest engine little ocean travel "
    "winter planet story button candle mirror castle pencil rocket valley thunder basket bottle camera desert island "
    "jacket ladder meadow needle orange pocket rabbit saddle tunnel violin wagon anchor bridge cotton dragon feather "
    "harbor kettle lemon marble nickel pepper quartz ribbon shadow timber velvet whistle zipper"
).split()
TIMEOUT_S = 600


@dataclass
class Sample:
    ns: int
    ttft_ns: int | None = None


@dataclass
class ServerTest:
    n_prompt: int
    n_gen: int
    samples: list[Sample] = field(default_factory=list)
    warmup_ns: list[int] = field(default_factory=list)
    timing_source: str = ""


def _request(url: str, body: dict | None = None, timeout: float = TIMEOUT_S, api_key: str | None = None):
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if body is not None else "GET")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        detail = error.read(300).decode(errors="replace").strip()
        raise MeekError(f"the server at {public_url(url)} answered HTTP {error.code} {error.reason}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise MeekError(f"cannot reach a server at {public_url(url)}: {getattr(error, 'reason', error)}") from None


def _json(url: str, body: dict | None = None, api_key: str | None = None, timeout: float = TIMEOUT_S) -> dict:
    with _request(url, body, timeout, api_key) as response:
        try:
            return json.loads(response.read())
        except ValueError:
            raise MeekError(
                f"the server at {public_url(url)} did not answer with JSON: is it the right kind of server?"
            ) from None


def public_url(url: str) -> str:
    """The URL without user name, password or query (which may hold a key), fit for a result file."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return urllib.parse.urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must look like http://127.0.0.1:8080 (got '{url}')")
    return url.rstrip("/")


def words(count: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, count)))


def prompt_of(server, n_tokens: int, rng: random.Random) -> str:
    """Random words trimmed or padded to exactly n_tokens tokens as this server tokenizes them (its count_tokens)."""
    text = words(n_tokens, rng)
    for _ in range(40):
        count = server.count_tokens(text)
        if count == n_tokens:
            return text
        if count > n_tokens:
            text = text.rsplit(" ", 1)[0] if " " in text else text
            if count - n_tokens == 1 and " " not in text:
                break
        else:
            text += " a" * (n_tokens - count)
    raise MeekError(f"could not build a prompt of exactly {n_tokens} tokens on this server")


class OpenAIServer:
    """An OpenAI-compatible server: /v1/models, /v1/completions (streamed), and a tokenizer endpoint when it has one."""

    name = "openai"

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S):
        self.url, self.api_key, self.timeout_s = check_url(url), api_key, timeout_s
        served = [m.get("id") for m in _json(f"{self.url}/v1/models", api_key=api_key, timeout=10).get("data", [])]
        if model in served or not served:
            self.model = model
        elif len(served) == 1:
            self.model = served[0]  # a single-model server (llama-server, llama-cpp-python) serves it under its own name
        else:
            raise UsageError(f"the server does not serve '{model}'; it serves: {', '.join(map(str, served[:20]))}")

    def count_tokens(self, text: str) -> int:
        """Prompt tokens as the server counts them: its tokenizer endpoint, else the usage of a one-token completion."""
        for path, key in (("/extras/tokenize", "input"), ("/tokenize", "content")):
            try:
                return len(_json(f"{self.url}{path}", {key: text}, self.api_key, timeout=30)["tokens"])
            except (MeekError, KeyError, TypeError):
                continue
        body = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0}
        usage = _json(f"{self.url}/v1/completions", body, self.api_key, self.timeout_s).get("usage") or {}
        if "prompt_tokens" not in usage:
            raise MeekError("the server reports no prompt token counts (no tokenizer endpoint, no usage): cannot run pp tests")
        return int(usage["prompt_tokens"])

    def _stream(self, body: dict) -> Iterator[tuple[int, dict]]:
        with _request(f"{self.url}/v1/completions", {**body, "stream": True}, self.timeout_s, self.api_key) as response:
            for raw in response:
                line = raw.decode(errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                yield time.perf_counter_ns(), json.loads(payload)

    def prompt_sample(self, prompt: str) -> tuple[Sample, str]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "cache_prompt": False}
        sent = time.perf_counter_ns()
        first, prompt_ms = None, None
        for arrived, event in self._stream(body):
            first = first or arrived
            prompt_ms = (event.get("timings") or {}).get("prompt_ms", prompt_ms)
        if first is None:
            raise MeekError("the server streamed no token")
        if prompt_ms:
            return Sample(int(prompt_ms * 1e6), first - sent), "server timings (prompt_ms)"
        return Sample(first - sent, first - sent), "stream: request sent to first token (includes HTTP and one generated token)"

    def generation_sample(self, prompt: str, n_gen: int) -> tuple[Sample, str]:
        wanted = n_gen + 1  # n_gen intervals between n_gen + 1 streamed tokens
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": wanted,
            "min_tokens": wanted,
            "ignore_eos": True,
            "temperature": 0,
            "cache_prompt": False,
        }
        arrivals = [arrived for arrived, event in self._stream(body) if any(c.get("text") for c in event.get("choices", []))]
        if len(arrivals) < wanted:
            raise MeekError(f"the server stopped after {len(arrivals)} tokens of {wanted} (it ignores min_tokens and ignore_eos)")
        return Sample(arrivals[wanted - 1] - arrivals[0]), "stream: first to last generated token"


class OllamaServer:
    """Ollama's own API: /api/tags and /api/generate with its prompt_eval and eval counts and durations. An API key is
    sent as a bearer token (Ollama behind an authenticating proxy, or ollama.com)."""

    name = "ollama"

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S):
        self.url, self.model, self.api_key, self.timeout_s = check_url(url), model, api_key, timeout_s
        tags = _json(f"{self.url}/api/tags", api_key=api_key, timeout=10).get("models", [])
        names = [t.get("name") for t in tags] + [t.get("model") for t in tags]
        if model not in names and f"{model}:latest" not in names:
            raise UsageError(
                f"ollama has no model '{model}' (pull it first); it has: {', '.join(n for n in names[::2] if n) or 'none'}"
            )

    def _generate(self, prompt: str, n_gen: int) -> dict:
        body = {
            "model": self.model,
            "prompt": prompt,
            "raw": True,
            "stream": False,
            "options": {"num_predict": n_gen, "temperature": 0, "seed": 0},
        }
        return _json(f"{self.url}/api/generate", body, self.api_key, self.timeout_s)

    def count_tokens(self, text: str) -> int:
        return int(self._generate(text, 1).get("prompt_eval_count", 0))

    def prompt_sample(self, prompt: str) -> tuple[Sample, str]:
        reply = self._generate(prompt, 1)
        return Sample(int(reply["prompt_eval_duration"])), "ollama prompt_eval_duration"

    def generation_sample(self, prompt: str, n_gen: int) -> tuple[Sample, str]:
        reply = self._generate(prompt, n_gen)
        if int(reply.get("eval_count", 0)) != n_gen:
            raise MeekError(f"ollama generated {reply.get('eval_count')} tokens of {n_gen}")
        return Sample(int(reply["eval_duration"])), "ollama eval_duration"


def measure(server, n_prompt: int, n_gen: int, repetitions: int, warmup: bool, seed: int = 0) -> ServerTest:
    """One test shape (pp or tg, as llama-bench names them) against the server, with a fresh prompt each repetition."""
    if n_prompt and n_gen:
        raise MeekError("server backends run pp and tg tests, not combined pp+tg ones")
    rng = random.Random(seed)
    test = ServerTest(n_prompt, n_gen)
    for repetition in range(repetitions + (1 if warmup else 0)):
        if n_prompt:
            sample, test.timing_source = server.prompt_sample(prompt_of(server, n_prompt, rng))
        else:
            sample, test.timing_source = server.generation_sample(words(8, rng), n_gen)
        if warmup and repetition == 0:
            test.warmup_ns.append(sample.ns)
        else:
            test.samples.append(sample)
    return test
