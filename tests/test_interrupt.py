"""Ctrl-C during a sweep keeps what finished: the result file is written, marked interrupted, and the exit code is 130."""

import os
import signal
import subprocess
import sys
import time

from harness.results.store import read_result


def interrupted_bench(args: list[str], cwd, meek_home, when: str) -> tuple[subprocess.Popen, str, str]:
    """Run `meek bench ARGS`, send Ctrl-C once a stderr line holds `when`, and return (process, lines seen, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "bench", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MEEK_HOME": str(meek_home)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if when in line:
            break
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole process group
    _, stderr = process.communicate(timeout=120)
    return process, "".join(seen), stderr


def test_ctrl_c_keeps_finished_tests(tmp_path, meek_home):
    args = ["-p", "32", "-n", "8", "-d", "0-4096+256", "-r", "2"]
    process, seen, stderr = interrupted_bench(args, tmp_path, meek_home, when="t/s")  # once the first test finished
    assert process.returncode == 130, seen + stderr
    assert "Traceback" not in stderr
    files = list((tmp_path / "results").glob("*/*.json"))
    assert len(files) == 1
    result = read_result(files[0])
    assert result.status == "interrupted"
    assert 1 <= len(result.runs) < 34
    assert result.errors[-1].stage == "interrupted"


def test_ctrl_c_before_any_test_finished_says_so(tmp_path, meek_home):
    # once the model is loaded: the 4096-token warm-up and repetitions take seconds
    process, seen, stderr = interrupted_bench(["-p", "4096", "-n", "0", "-r", "3"], tmp_path, meek_home, when="loaded in")
    assert process.returncode == 130, seen + stderr
    assert "no test had finished; nothing was saved" in stderr and "finished tests were saved" not in stderr
    assert not list(tmp_path.glob("results/*/*.json"))
