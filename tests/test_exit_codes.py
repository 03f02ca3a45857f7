"""One exit-code policy for every command (harness/errors.py): 0 done, 1 a run or a check failed, 2 a usage error,
130 interrupted; and one output helper that never reads data strings as rich markup."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import typer

from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, MeekError, UsageError

GOLDEN_V2 = Path(__file__).parent / "golden" / "result-v2-smollm2.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ("models", "list"),
        ("schema",),
        ("validate", str(GOLDEN_V2)),
        ("gap", "--benchmark", "mmlu", "--classes", "24gb-gpu"),
    ],
)
def test_done_is_0(run_meek, args):
    code, _, stderr = run_meek(*args)
    assert code == 0, stderr


def test_a_failed_check_or_run_is_1(run_meek, tmp_path):
    edited = tmp_path / "edited.json"
    document = json.loads(GOLDEN_V2.read_text())
    document["runs"][0]["avg_ts"] *= 2
    edited.write_text(json.dumps(document))
    code, stdout, _ = run_meek("validate", str(edited))
    assert code == 1 and "FAIL" in stdout
    code, _, stderr = run_meek("bench", "--backend", "openai", "--url", f"http://127.0.0.1:{_free_port()}")
    assert code == 1 and stderr.startswith("error: cannot reach a server")


@pytest.mark.parametrize(
    "args, says",
    [
        (("bench", "-p", "abc"), "-p: cannot read 'abc'"),
        (("bench", "-m", "no-such-model"), "unknown model 'no-such-model'"),
        (("bench", "-fa", "maybe"), "-fa: unknown value 'maybe'"),
        (("bench", "--tier", "huge"), "--tier: unknown tier 'huge'"),
        (
            ("bench", "--backend", "openai", "--url", "http://127.0.0.1:9", "-d", "4096"),
            "-d: cannot be honoured by --backend openai",
        ),
        (("bench", "--url", "http://127.0.0.1:9"), "--url: only used with --backend"),
        (("eval", "--strategy", "guess"), "--strategy: unknown 'guess'"),
        (("eval", "--suite", "quick", "--repack", "0,1"), "--repack: meek eval scores with one setting"),
        (("models", "info", "no-such-model"), "unknown model 'no-such-model'"),
        (("compare", "--results-dir", "no-such-folder"), "no such file or folder: no-such-folder"),
        (("advise", "-m", "no-such-model"), "unknown model 'no-such-model'"),
        (("gap", "--classes", "7gb-toaster"), "unknown machine class 7gb-toaster"),
        (("plot", "throughput", "--results-dir", "no-such-folder"), "no such file or folder"),
        (("report", "--results-dir", "no-such-folder"), "no such file or folder"),
        (("validate", "no-such-file.json"), "no such file or folder"),
        (("results", "upgrade", "no-such-file.json"), "no such file or folder"),
    ],
)
def test_a_usage_error_is_2_and_one_line(run_meek, args, says):
    code, _, stderr = run_meek(*args)
    assert code == 2, stderr
    assert stderr.startswith("error: ") and says in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_typers_own_usage_errors_are_2(run_meek):
    code, _, stderr = run_meek("bench", "--no-such-option")
    assert code == 2 and "No such option" in stderr


def test_the_wrapper_maps_errors_and_ctrl_c(capsys):
    from harness.cli.common import run

    def raising(error):
        def action():
            raise error

        return action

    for error, code in (
        (UsageError("bad"), EXIT_USAGE),
        (MeekError("failed"), EXIT_FAILED),
        (KeyboardInterrupt(), EXIT_INTERRUPTED),
    ):
        with pytest.raises(typer.Exit) as exited:
            run(raising(error))
        assert exited.value.exit_code == code
    assert "error: bad" in capsys.readouterr().err


def test_data_strings_are_never_markup(run_meek, tmp_path):
    """A stranger's file name (or any string in it) prints as written: `[red]` stays `[red]`, escapes become '?'."""
    odd = tmp_path / "[bold red]evil\x1b[2J.json"
    shutil.copy(GOLDEN_V2, odd)
    code, stdout, _ = run_meek("validate", str(odd))
    assert code == 0 and "[bold red]evil?[2J.json" in stdout and "\x1b" not in stdout
    code, _, stderr = run_meek("submit", str(tmp_path / "[red]missing[/red].json"))
    assert code == 2 and "no such result file: " in stderr and "[red]missing[/red].json" in stderr


def test_output_prints_text_as_given(capsys):
    from harness.output import Output

    out = Output()
    out.say("[red]model[/red] \x07")
    out.warn("[link=http://x]click[/link]")
    out.table(("id",), [("[b]x[/b]",)])
    captured = capsys.readouterr()
    assert "[red]model[/red] ?" in captured.out and "[b]x[/b]" in captured.out
    assert "warning: [link=http://x]click[/link]" in captured.err
