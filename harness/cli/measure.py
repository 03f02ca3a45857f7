"""`meek bench`, `meek eval` and `meek machine`: measuring this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import app, given, out, run


@app.command(
    epilog="Examples:\n\n"
    "  meek bench                                  # bundled SmolLM2-135M, pp512 and tg128, 5 repetitions\n\n"
    "  meek bench -m gemma3-270m -p 128,512 -n 128 -d 0,2048 -t 1,2 -r 5\n\n"
    "  meek bench -m ./any.gguf -ngl 99 -fa 1 -o json\n\n"
    "  meek bench --tier auto                      # the standard models of every tier this machine can hold\n\n"
    "  meek bench --backend openai --url http://127.0.0.1:8080 -m my-model   # any OpenAI-compatible server\n\n"
    "  meek bench --backend ollama -m llama3.1:8b  # Ollama at http://127.0.0.1:11434 unless --url\n\n"
    "  meek bench --backend llama-bench --bin ~/llama.cpp/build/bin/llama-bench -m ./model.gguf\n\n"
    "Sweep values take lists (128,512) and ranges: 0-8192+2048 steps by 2048, 1-16*2 doubles. Every combination runs;"
    " each distinct load setting loads the model once, in a worker process."
)
def bench(
    ctx: typer.Context,
    model: list[str] = typer.Option(
        [], "-m", "--model", help="Catalogue id or .gguf path; repeat or comma-separate for several. Default: smollm2-135m."
    ),
    tier: str | None = typer.Option(
        None,
        "--tier",
        help="Run the standard models of a tier: tiny, small, medium, large, xl, a comma list, or auto (those that fit in memory).",
    ),
    n_prompt: str = typer.Option("512", "-p", "--n-prompt", metavar="N,...", help="Prompt tokens to process (pp test)."),
    n_gen: str = typer.Option("128", "-n", "--n-gen", metavar="N,...", help="Tokens to generate (tg test)."),
    pg: list[str] = typer.Option([], "-pg", help="A prompt+generation test, as 'PROMPT,GEN' (e.g. 512,128); repeatable."),
    n_depth: str = typer.Option("0", "-d", "--n-depth", metavar="N,...", help="Tokens already in the context before the test."),
    parallel: str | None = typer.Option(
        None,
        "--parallel",
        "-npl",
        metavar="N,...",
        help="Serving points instead of single-stream tests: N sequences decoded together in one context, each its own "
        "prompt of -p tokens then -n generated (llama-batched-bench's -npl), e.g. 1,2,4,8.",
    ),
    threads: str | None = typer.Option(None, "-t", "--threads", metavar="N,...", help="CPU threads. Default: physical cores."),
    n_gpu_layers: str = typer.Option(
        "-1",
        "-ngl",
        "--n-gpu-layers",
        metavar="N,...",
        help="Layers offloaded to the GPU; -1 (llama-bench's default) = all, 0 = none.",
    ),
    batch: str = typer.Option("2048", "-b", "--batch-size", metavar="N,...", help="Logical batch size."),
    ubatch: str = typer.Option("512", "-ub", "--ubatch-size", metavar="N,...", help="Physical batch size."),
    flash_attn: str = typer.Option(
        "auto", "-fa", "--flash-attn", help="Flash attention: 0/off, 1/on, -1/auto (llama-bench's default: auto)."
    ),
    cache_type_k: str = typer.Option("f16", "-ctk", "--cache-type-k", help="KV cache type for K: f16, q8_0, q4_0, ..."),
    cache_type_v: str = typer.Option("f16", "-ctv", "--cache-type-v", help="KV cache type for V."),
    repack: str | None = typer.Option(
        None,
        "-rpk",
        "--repack",
        help="llama-bench's --repack: 1 lets llama.cpp repack weights for its faster CPU kernels (AMX, CPU repack), 0 keeps "
        "them plain; 0,1 measures both. Default: 1 where the preflight probe finds it runs, else 0 (said in one line).",
    ),
    repetitions: int = typer.Option(
        5, "-r", "--repetitions", min=1, max=1000, help="Timed repetitions per test (after one warm-up)."
    ),
    no_warmup: bool = typer.Option(False, "--no-warmup", help="Skip the warm-up run."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random tokens the tests decode (kept in the result)."),
    output: str = typer.Option("md", "-o", "--output", help="Table on stdout: md, csv, json or jsonl."),
    results_dir: Path = typer.Option(
        Path("results"), "--results-dir", help="Where result files go (as <machine-id>/<UTC time>-<model>.json)."
    ),
    timeout: float = typer.Option(
        600, "--timeout", metavar="SECONDS", min=1, help="Seconds a worker may go without progress before it is stopped."
    ),
    eval_suite: str | None = typer.Option(
        None,
        "--eval",
        help="Also score each model on a suite (quick, full) or tasks (hellaswag,arc_challenge), into the same result file.",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="With --eval: read task data from this folder (offline), e.g. ../shared/data/bench."
    ),
    backend: str = typer.Option(
        "llama-cpp-python",
        "--backend",
        help="llama-cpp-python (in process), openai (any OpenAI-compatible server), ollama, llama-bench.",
    ),
    url: str | None = typer.Option(None, "--url", help="Server URL for --backend openai or ollama, e.g. http://127.0.0.1:8080."),
    binary: Path | None = typer.Option(None, "--bin", help="Your llama-bench binary for --backend llama-bench."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="MEEK_API_KEY", help="Bearer key for the server (never saved)."),
    rpc: str | None = typer.Option(
        None,
        "--rpc",
        help="Split the model across llama.cpp RPC servers, host:port,... (with --backend llama-bench and an "
        "RPC-enabled --bin; start them with meek rpc-server). The local run is measured too, for the ratio.",
    ),
    link: str | None = typer.Option(None, "--link", help="With --rpc: the link between the machines, e.g. 2.5GbE, USB4."),
) -> None:
    """Measure prompt processing and generation speed, time to first token, load time and peak memory.

    Follows llama-bench's protocol and defaults (random tokens, KV cache cleared each repetition, warm-up kept apart,
    -fa auto, -ngl all) so its numbers can be checked against llama-bench on the same build. Every run is saved as a
    result file. A backend that cannot honour an option (a server and -d, -b, -ctk, ...) refuses it."""
    from harness.commands import bench as command

    run(lambda: command.run(command.request(ctx.params, given(ctx)), out))


@app.command(
    "eval",
    epilog="Examples:\n\n"
    "  meek eval -m smollm2-135m --suite quick --data-dir ../shared/data/bench   # offline, from local files\n\n"
    "  meek eval -m smollm2-135m --suite quick                                   # standard lm-eval tasks from the hub\n\n"
    "  meek eval -m ./any.gguf --tasks hellaswag,arc_challenge --limit 200\n\n"
    "Suites: quick = a fixed, seeded subset of MMLU (stratified by subject), HellaSwag, ARC-Challenge and GSM8K; "
    "full = those tasks whole. Interrupted or crashed runs resume from a cache in ~/.meek/eval-cache: run the same "
    "command again.",
)
def eval_command(
    ctx: typer.Context,
    model: str = typer.Option("smollm2-135m", "-m", "--model", help="Catalogue id or .gguf path."),
    suite: str | None = typer.Option(None, "--suite", help="quick or full."),
    tasks: str | None = typer.Option(
        None, "--tasks", help="Comma-separated task names (hellaswag, arc_challenge, mmlu, gsm8k, ...)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Read task data from this folder instead of the hub (layout of ../shared/data/bench)."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Score only this many items per task (a seeded subset; marked as a subset)."
    ),
    strategy: str = typer.Option(
        "prefix-reuse",
        "--strategy",
        help="prefix-reuse (shared contexts decoded once: fast, the same scores as plain) or plain (every request from "
        "scratch); with flash attention, batched-flash (several questions per decode, shared few-shot examples once: "
        "the same scores bit for bit as plain-flash), prefix-reuse-flash or plain-flash. Flash attention on and off are "
        "different computations: on SmolLM2 their log-likelihoods differ by tenths of a nat and a few answers in a "
        "hundred.",
    ),
    n_ctx: int = typer.Option(
        2048, "--ctx", metavar="TOKENS", min=64, help="Context size for scoring; longer inputs are cut from the left."
    ),
    threads: int | None = typer.Option(None, "-t", "--threads", min=1, help="CPU threads. Default: all cores."),
    chat: bool = typer.Option(False, "--chat", help="Wrap prompts in the model's chat template (instruct models)."),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result file goes."),
    repack: str | None = typer.Option(
        None, "-rpk", "--repack", help="0 or 1, as for meek bench. Default: what the preflight probe finds runs here."
    ),
    timeout: float = typer.Option(
        600,
        "--timeout",
        metavar="SECONDS",
        min=1,
        help="Seconds the scoring worker may go without finishing a request before it is stopped.",
    ),
) -> None:
    """Score the exact quantised file on standard benchmarks through lm-eval, and save the scores.

    Scoring runs in a worker process: a crash, an out-of-memory kill or a hang is one line and exit code 1, and every
    request scored before it stays in the request cache, so the same command resumes."""
    from harness.commands import eval as command

    run(lambda: command.run(command.request(ctx.params), out))


@app.command()
def machine(
    as_json: bool = typer.Option(False, "--json", help="Print the fingerprint as JSON."),
    probe: bool = typer.Option(
        True, "--probe/--no-probe", help="Run the preflight probe (a few seconds, once per llama.cpp build) if it has not run."
    ),
) -> None:
    """What the harness knows about this machine: CPU, memory, GPUs, OS, the llama.cpp build, and the preflight verdict
    (which of llama.cpp's CPU paths run here)."""
    from harness.commands import machine as command

    run(lambda: command.run(probe, as_json, out))


@app.command(
    epilog="Examples:\n\n"
    "  meek load --serve smollm2-135m --concurrency 1,2,4          # meek starts llama-server, measures, stops it\n\n"
    "  meek load --url http://127.0.0.1:8080 --rate 0.5,1,2 -p 512 -n 128\n\n"
    "  meek load --serve smollm2-135m --server llama-cpp-python   # llama-cpp-python's server (one request at a time)\n\n"
    "Each point streams real requests (prompts of exactly -p tokens by the server's tokenizer, -n generated) and keeps "
    "TTFT, inter-token and end-to-end latency at p50/p90/p99, requests/s and t/s; the capacity line names the largest "
    "load that meets the objective. Points go into a result file as they finish.",
)
def load(
    ctx: typer.Context,
    url: str | None = typer.Option(None, "--url", help="A running OpenAI-compatible server, e.g. http://127.0.0.1:8080."),
    serve: str | None = typer.Option(None, "--serve", help="A model (catalogue id or .gguf): meek starts a server for it."),
    server: str = typer.Option("llama-server", "--server", help="With --serve: llama-server or llama-cpp-python."),
    server_bin: Path | None = typer.Option(
        None, "--server-bin", help="Your llama-server binary (default: $MEEK_LLAMA_SERVER, else built from the vendored source)."
    ),
    model: str | None = typer.Option(None, "-m", "--model", help="With --url: the model name to request."),
    concurrency: str | None = typer.Option(
        None, "--concurrency", metavar="N,...", help="Closed-loop streams per point, e.g. 1,2,4,8 (default)."
    ),
    rate: str | None = typer.Option(
        None, "--rate", metavar="REQ/S,...", help="Open-loop requests per second per point, e.g. 0.5,1,2."
    ),
    n_prompt: int = typer.Option(
        128, "-p", "--n-prompt", metavar="TOKENS", help="Prompt tokens per request (the server's tokenizer)."
    ),
    n_gen: int = typer.Option(64, "-n", "--n-gen", metavar="TOKENS", help="Tokens generated per request."),
    requests: int | None = typer.Option(None, "--requests", min=1, help="Requests per point (default 4 per stream, 8 or more)."),
    seconds: float = typer.Option(60.0, "--seconds", metavar="SECONDS", min=1, help="Longest a point may send requests for."),
    request_seconds: float | None = typer.Option(
        None,
        "--request-seconds",
        metavar="SECONDS",
        min=0.1,
        help="Longest one request may take, from sending to its last token; cut there and counted as an error "
        "(default: --seconds).",
    ),
    min_stream_tps: float = typer.Option(
        10.0, "--min-stream-tps", metavar="T/S", help="Objective: every stream (p10) at least this t/s."
    ),
    max_ttft_s: float = typer.Option(
        2.0, "--max-ttft-s", metavar="SECONDS", help="Objective: time to first token under this at p90."
    ),
    results_dir: Path = typer.Option(Path("results"), "--results-dir", help="Where the result file goes."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="MEEK_API_KEY", help="Bearer key for the server (never saved)."),
) -> None:
    """How many streams this box serves at once: a load sweep against an OpenAI-compatible server."""
    from harness.commands import load as command

    run(lambda: command.run(command.request(ctx.params), out))


@app.command(
    "rpc-server",
    epilog="Examples:\n\n  meek rpc-server                       # 127.0.0.1:50052, until Ctrl-C\n\n"
    "  meek rpc-server --host 192.168.1.20 --port 50052 --cache   # on a trusted LAN, with a local tensor cache\n\n"
    "  meek rpc-server --background --port 50053 && meek rpc-server --stop --port 50053\n\n"
    "rpc-server has no authentication: anyone who reaches the port can run code through it. It binds to loopback "
    "unless --host says otherwise.",
)
def rpc_server(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless you trust the network)."),
    port: int = typer.Option(50052, "--port", metavar="PORT", min=1, max=65535, help="Port to listen on."),
    cache: bool = typer.Option(False, "--cache", help="rpc-server's -c: keep a local cache of the tensors it receives."),
    threads: int | None = typer.Option(
        None,
        "-t",
        "--threads",
        min=1,
        help="CPU threads of its backend (default: this machine's physical cores; rpc-server's own default is 1).",
    ),
    binary: Path | None = typer.Option(
        None, "--bin", help="Your rpc-server (default: $MEEK_RPC_SERVER, else built from the vendored source with RPC on)."
    ),
    background: bool = typer.Option(False, "--background", help="Start it and return (a pid file under $MEEK_HOME/rpc)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the one meek started in the background on --port."),
) -> None:
    """Start llama.cpp's rpc-server, a worker a model can be split onto (meek bench --rpc), and stop it cleanly."""
    from harness.commands import rpc_server as command

    run(lambda: command.run(host, port, cache, threads, binary, background, stop, out))
