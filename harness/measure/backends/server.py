"""Benchmarks through a running server: any OpenAI-compatible one (llama-server, llama-cpp-python's server, LM Studio,
vLLM) or Ollama. The same test shapes as in process, each sample timed as the server lets us see it.

OpenAI-compatible: a prompt test's sample is the server's own prompt time (llama-server's `timings.prompt_ms`) where
given, else the stream time from sending the request to the first token; a generation test's sample is the stream time
from the first to the last token. Ollama: its reported prompt_eval and eval durations. Each repetition gets a different
prompt with the same token count, so no server answers from its prompt cache.

A server is not trusted: every number it reports is checked for its type and range before use (a bad one fails that
test with one line, the finished tests are still saved), and every string it sends reaches the result file through
`fit_to_save` (its API key hidden, no control characters, no markup), so `meek validate` accepts what was written.
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, cast

from harness.catalogue.models import DEFAULT_MODEL, load_catalog
from harness.errors import MeekError, UsageError
from harness.http import Client, plain_text, public_url
from harness.machine.facts import fingerprint
from harness.measure.protocol import BenchRequest
from harness.measure.runner import BenchOutcome, Progress, ScoreHook, save_all
from harness.results.document import map_strings
from harness.results.reading import has_markup_or_control
from harness.results.schema import BenchResult, ModelInfo, Protocol, Run, RunError, TestShape, new_result, validate_document
from harness.results.stats import summarize

WORDS = (  # noqa: SIM905 (a sentence of words reads better than a list literal of 64 strings)
    "river stone market window garden silver morning yellow music paper summer forest engine little ocean travel "
    "winter planet story button candle mirror castle pencil rocket valley thunder basket bottle camera desert island "
    "jacket ladder meadow needle orange pocket rabbit saddle tunnel violin wagon anchor bridge cotton dragon feather "
    "harbor kettle lemon marble nickel pepper quartz ribbon shadow timber velvet whistle zipper"
).split()
TIMEOUT_S = 600.0
MAX_TOKENS = 10**7  # a token count above this (the result schema's bound) is not a count
# what a server's answer that no check foresaw raises while it is read: that test fails, the others still run
UNREADABLE = (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, RecursionError)


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
    # TCP connects made inside timed samples (ns each): none when the pooled connection held, as it should
    connect_ns: list[int] = field(default_factory=list)


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must look like http://127.0.0.1:8080 (got '{url}')")
    return url.rstrip("/")


def duration_ns(value: object, scale: float, what: str) -> int:
    """A server's reported duration (in units of `scale` ns) as ns: a positive finite number below 10**15 ns (11.6
    days), else one line saying so. Compared before it is scaled: an integer of 400 digits is refused, not overflowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e15 / scale:
        raise MeekError(f"the server reported {what} = {shown(value)}, not a positive duration: the sample is not kept")
    return max(1, int(value * scale))


def token_count(value: object, what: str) -> int:
    """A server's token count: an integer from 0 to MAX_TOKENS, else one line saying so."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise MeekError(f"the server reported {what} = {shown(value)}, not a token count")
    return value


def shown(value: object) -> str:
    """A server's value quoted in a message: short, one line, no markup; never cut (a key it echoed, cut in two, could
    no longer be found and hidden), so a long string or number is described instead."""
    text = repr(value) if isinstance(value, (str, float)) or value is None else type(value).__name__
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
    if len(text) > 40:
        text = f"a {type(value).__name__} of {len(value) if isinstance(value, str) else len(text)} characters"
    return plain_text(text)


def check_name(option: str, value: str, max_length: int = 200) -> str:
    """A name from the command line that goes into the result file as typed (a model name): refused in one line when the
    result validator would refuse the file for it (markup, control or direction characters, over `max_length`
    characters), rather than saved altered."""
    if has_markup_or_control(json.dumps(value, ensure_ascii=False)):
        raise UsageError(f"{option}: {plain_text(value)[:80]!r} has markup or control characters, which no result file may hold")
    if len(value) > max_length:
        raise UsageError(f"{option}: a name of {len(value)} characters; a result file holds at most {max_length}")
    return value


def fit_to_save(result: BenchResult, secrets: tuple[str, ...] = ()) -> BenchResult:
    """The result with every string as it may be saved: what a server sent (an error page, a model id) on one line,
    without markup (harness.http.plain_text) and without the API key it may have echoed."""
    # never longer than it was: a field at its schema's length limit stays within it
    document = map_strings(
        result.model_dump(mode="json", exclude={"content_sha256"}), lambda text: plain_text(text, secrets)[: len(text)]
    )
    return validate_document(document, "result to save")


def has_text(event: dict) -> bool:
    """An OpenAI completion event that carries generated text."""
    choices = event.get("choices")
    return isinstance(choices, list) and any(isinstance(c, dict) and c.get("text") for c in choices)


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
        self.url, self.timeout_s = check_url(url), timeout_s
        self.client = Client(self.url, api_key, timeout_s)
        listing = self.client.json("/v1/models", timeout_s=min(10, timeout_s))
        entries = listing.get("data") if isinstance(listing, dict) else None
        served = [m["id"] for m in entries or [] if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]
        served = served if isinstance(entries, list) else []
        if model in served or not served:
            self.model = model
        elif len(served) == 1:
            self.model = served[0]  # a single-model server (llama-server, llama-cpp-python) serves it under its own name
        else:
            listed = ", ".join(self.client.scrub(m)[:80] for m in served[:20])
            raise UsageError(f"the server does not serve '{self.client.scrub(model)[:80]}'; it serves: {listed}")
        self.shown_model = self.client.scrub(self.model)[:200]  # the name it is saved under (the id as sent stays raw)

    def count_tokens(self, text: str) -> int:
        """Prompt tokens as the server counts them: its tokenizer endpoint, else the usage of a one-token completion."""
        for path, key in (("/extras/tokenize", "input"), ("/tokenize", "content")):
            try:
                reply = self.client.json(path, {key: text}, timeout_s=min(30, self.timeout_s))
            except MeekError:
                continue
            tokens = reply.get("tokens") if isinstance(reply, dict) else None
            if isinstance(tokens, list):
                return token_count(len(tokens), f"{path} tokens")
        body = {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0}
        reply = self.client.json("/v1/completions", body)
        usage = (reply.get("usage") if isinstance(reply, dict) else None) or {}
        count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        try:
            return token_count(count, "usage.prompt_tokens")
        except MeekError:
            why = "no usage" if count is None else f"its usage.prompt_tokens = {shown(count)} is not a token count"
            raise MeekError(
                f"the server reports no prompt token counts (no tokenizer endpoint, {why}): cannot run pp tests"
            ) from None

    def stream(self, body: dict, deadline: float | None = None) -> Iterator[tuple[int, dict]]:
        """A streamed completion: each event with its arrival time (perf_counter_ns), over the pooled connection; with a
        deadline (time.perf_counter()), cut there whatever the server does."""
        yield from self.client.events("/v1/completions", {**body, "stream": True}, deadline)

    def close(self) -> None:
        self.client.close()

    def prompt_sample(self, prompt: str) -> tuple[Sample, str]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0, "cache_prompt": False}
        sent = time.perf_counter_ns()
        first, prompt_ms = None, None
        for arrived, event in self.stream(body):
            first = first or arrived
            timings = event.get("timings")
            prompt_ms = timings.get("prompt_ms", prompt_ms) if isinstance(timings, dict) else prompt_ms
        if first is None:
            raise MeekError("the server streamed no token")
        if prompt_ms is not None:
            return Sample(duration_ns(prompt_ms, 1e6, "timings.prompt_ms"), first - sent), "server timings (prompt_ms)"
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
        arrivals = [arrived for arrived, event in self.stream(body) if has_text(event)]
        if len(arrivals) < wanted:
            raise MeekError(f"the server stopped after {len(arrivals)} tokens of {wanted} (it ignores min_tokens and ignore_eos)")
        if arrivals[wanted - 1] <= arrivals[0]:
            raise MeekError(f"the server delivered {wanted} tokens at once: no generation time to measure")
        return Sample(arrivals[wanted - 1] - arrivals[0]), "stream: first to last generated token"


class OllamaServer:
    """Ollama's own API: /api/tags and /api/generate with its prompt_eval and eval counts and durations. An API key is
    sent as a bearer token (Ollama behind an authenticating proxy, or ollama.com)."""

    name = "ollama"

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S):
        self.url, self.model, self.timeout_s = check_url(url), model, timeout_s
        self.client = Client(self.url, api_key, timeout_s)
        self.shown_model = self.client.scrub(model)[:200]
        listing = self.client.json("/api/tags", timeout_s=min(10, timeout_s))
        models = listing.get("models") if isinstance(listing, dict) else None
        tags = [t for t in models if isinstance(t, dict)] if isinstance(models, list) else []
        names = [n for t in tags for n in (t.get("name"), t.get("model")) if isinstance(n, str)]
        if model not in names and f"{model}:latest" not in names:
            listed = ", ".join(self.client.scrub(n)[:80] for n in [t.get("name") for t in tags][:20] if isinstance(n, str) and n)
            raise UsageError(f"ollama has no model '{self.shown_model[:80]}' (pull it first); it has: {listed or 'none'}")

    def _generate(self, prompt: str, n_gen: int) -> dict:
        body = {
            "model": self.model,
            "prompt": prompt,
            "raw": True,
            "stream": False,
            "options": {"num_predict": n_gen, "temperature": 0, "seed": 0},
        }
        reply = self.client.json("/api/generate", body)
        if not isinstance(reply, dict):
            raise MeekError(f"ollama at {public_url(self.url)} answered something that is not a JSON object")
        return reply

    def close(self) -> None:
        self.client.close()

    def count_tokens(self, text: str) -> int:
        count = self._generate(text, 1).get("prompt_eval_count")
        if count is None:
            raise MeekError("ollama reported no prompt token count")
        return token_count(count, "prompt_eval_count")

    def prompt_sample(self, prompt: str) -> tuple[Sample, str]:
        reply = self._generate(prompt, 1)
        return Sample(duration_ns(reply.get("prompt_eval_duration"), 1, "prompt_eval_duration")), "ollama prompt_eval_duration"

    def generation_sample(self, prompt: str, n_gen: int) -> tuple[Sample, str]:
        reply = self._generate(prompt, n_gen)
        count = token_count(reply.get("eval_count"), "eval_count")
        if count != n_gen:
            raise MeekError(f"ollama generated {count} tokens of {n_gen}")
        return Sample(duration_ns(reply.get("eval_duration"), 1, "eval_duration")), "ollama eval_duration"


def measure(
    server: OpenAIServer | OllamaServer, n_prompt: int, n_gen: int, repetitions: int, warmup: bool, seed: int = 0
) -> ServerTest:
    """One test shape (pp or tg, as llama-bench names them) against the server, with a fresh prompt each repetition. The
    prompts are built (tokenizer requests) before each timed request, so the pooled connection is open when it starts;
    a connect that happens inside a timed sample anyway (the server closed the connection) is recorded with the test."""
    if n_prompt and n_gen:
        raise MeekError("server backends run pp and tg tests, not combined pp+tg ones")
    rng = random.Random(seed)
    test = ServerTest(n_prompt, n_gen)
    for repetition in range(repetitions + (1 if warmup else 0)):
        prompt = prompt_of(server, n_prompt, rng) if n_prompt else words(8, rng)
        connects = len(server.client.connect_ns)
        if n_prompt:
            sample, test.timing_source = server.prompt_sample(prompt)
        else:
            sample, test.timing_source = server.generation_sample(prompt, n_gen)
        if warmup and repetition == 0:
            test.warmup_ns.append(sample.ns)
        else:
            test.samples.append(sample)
            test.connect_ns += server.client.connect_ns[connects:]
    return test


SERVERS: dict[str, type[OpenAIServer | OllamaServer]] = {"openai": OpenAIServer, "ollama": OllamaServer}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def server_result(
    backend: str,
    url: str,
    model: str,
    shapes: list[TestShape],
    repetitions: int,
    warmup: bool,
    api_key: str | None = None,
    timeout_s: float = 600,
    seed: int = 0,
) -> BenchResult:
    """Run every shape against the server (each request may take `timeout_s` seconds); a failed test becomes an error
    entry and the others still run; Ctrl-C ends the run with the finished tests kept (status "interrupted"). The result
    comes back fit to save (fit_to_save: the key hidden, the server's strings plain)."""
    server = SERVERS[backend](url, model, api_key, timeout_s)
    try:
        return fit_to_save(_measured(server, backend, url, model, shapes, repetitions, warmup, seed), server.client.secrets)
    finally:
        server.close()


def _measured(
    server: OpenAIServer | OllamaServer,
    backend: str,
    url: str,
    model: str,
    shapes: list[TestShape],
    repetitions: int,
    warmup: bool,
    seed: int,
) -> BenchResult:
    machine = fingerprint()
    host = urllib.parse.urlsplit(url).hostname
    if host not in LOOPBACK:
        machine = machine.model_copy(
            update={"warnings": [*machine.warnings, f"server at {host}: the machine facts describe this client"]}
        )
    entry = load_catalog().get(model)
    model_info = ModelInfo(
        id=entry.id if entry else None,
        label=model,
        file_name=(entry.source.file or entry.source.hf_file or model) if entry else model,
        file_size_bytes=entry.file_size_bytes if entry else None,
        quant=entry.quant if entry else None,
        source=f"served as '{server.shown_model}'",
    )
    served = cast(Literal["openai", "ollama"], backend)  # a key of SERVERS: SERVERS[backend] raised KeyError otherwise
    protocol = Protocol(
        backend=served,
        repetitions=repetitions,
        warmup=warmup,
        seed=seed,
        timing="see each run's timing_source",
        server=public_url(url),
    )
    result = new_result(machine, model_info, protocol, status="complete")
    for shape in shapes:
        try:
            test = measure(server, shape.n_prompt, shape.n_gen, repetitions, warmup, seed)
        except MeekError as error:
            result.errors.append(RunError(stage="test", message=server.client.scrub(error)[:2000], test=shape.name))
            continue
        except UNREADABLE as error:  # an answer no check above foresaw: this test fails, the finished ones are kept
            message = f"the server's answer could not be read ({type(error).__name__}: {server.client.scrub(error)[:300]})"
            result.errors.append(RunError(stage="test", message=message, test=shape.name))
            continue
        except KeyboardInterrupt:
            result.errors.append(RunError(stage="interrupted", message="interrupted by the user (Ctrl-C)"))
            result.status = "interrupted"
            return result
        samples_ns = [s.ns for s in test.samples]
        result.runs.append(
            Run(
                test=shape.name,
                n_prompt=shape.n_prompt,
                n_gen=shape.n_gen,
                n_depth=0,
                n_threads=None,
                n_ctx=shape.n_ctx,
                settings=None,
                timing_source=test.timing_source,
                samples_ns=samples_ns,
                warmup_ns=test.warmup_ns,
                ttft_ns=[s.ttft_ns for s in test.samples if s.ttft_ns is not None],
                connect_ns=test.connect_ns,
                **summarize(shape.n_prompt + shape.n_gen, samples_ns),
            )
        )
    result.status = "complete" if not result.errors else "partial" if result.runs else "failed"
    return result


def _save_each(backend: str, url: str, models: list[str], shapes: list[TestShape], request: BenchRequest, progress: Progress):
    """Measure and save model by model: a model the server refuses (or a server gone mid-run) after the first is one
    error line, and the finished models' files are kept; Ctrl-C stops after saving what finished."""
    results: list[BenchResult] = []
    failures: list[str] = []
    interrupted = False
    for model in models:
        try:
            result = server_result(
                backend, url, model, shapes, request.repetitions, request.warmup, request.api_key, request.timeout_s, request.seed
            )
        except MeekError as error:
            if len(models) == 1:
                raise
            failures.append(f"{model}: {error}")
            continue
        except KeyboardInterrupt:  # while connecting to the server for this model: the finished models are saved
            interrupted = True
            break
        results.append(result)
        if result.status == "interrupted":
            interrupted = True
            break
    if not results and failures:
        raise MeekError(f"no model was measured; first: {failures[0]}")
    outcome = save_all(results, request.results_dir, progress)
    outcome.errors = [e for e in outcome.errors if not e.startswith("interrupted by the user")] + failures
    outcome.interrupted = interrupted
    return outcome


class ServerBackend:
    """`--backend openai|ollama`: pp and tg tests at depth 0 against a running server, which loaded the model with its own
    settings (so every load or sweep option is refused rather than silently ignored)."""

    honours = frozenset({"url", "api_key", "seed"})
    refusal_why = (
        "the server loaded the model with its own settings (set them where it starts) and runs pp and tg tests at depth 0"
    )

    def __init__(self, name: str, default_url: str | None):
        self.name, self.default_url = name, default_url
        self.refusal = f"cannot be honoured by --backend {name}: {self.refusal_why}"

    def measure(self, request: BenchRequest, progress: Progress, score: ScoreHook | None = None) -> BenchOutcome:
        url = request.url or self.default_url
        if not url:
            raise UsageError(f"--backend {self.name} needs --url (e.g. http://127.0.0.1:8080)")
        shapes = [TestShape(p, 0) for p in request.n_prompt if p] + [TestShape(0, n) for n in request.n_gen if n]
        if not shapes:
            raise UsageError("nothing to measure: give a non-zero -p or -n")
        models = [m.strip() for value in request.models for m in value.split(",") if m.strip()] or [DEFAULT_MODEL]
        for model in models:
            check_name("-m", model)
        return _save_each(self.name, url, models, shapes, request, progress)


OPENAI = ServerBackend("openai", None)
OLLAMA = ServerBackend("ollama", "http://127.0.0.1:11434")
