"""The preflight probe and the crash paths, with real llama.cpp: on a machine whose repack (AMX) path crashes, the real
probe and fallback; on every machine, the same code path through workers told to die with a signal (harness/measure/faults.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.machine.facts import fingerprint, missing_simd
from harness.measure import preflight
from harness.results.schema import LlamaBuild
from harness.results.store import read_result

FIXTURES = Path(__file__).parent / "fixtures" / "bench"
SMALL_BENCH = ("bench", "-p", "16", "-n", "4", "-r", "1", "--no-warmup")


@pytest.fixture()
def fresh_home(tmp_path, monkeypatch) -> Path:
    """A MEEK_HOME of this test's own, so no verdict from another test is reused."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MEEK_HOME", str(home))
    return home


def meek(run_meek, home: Path, *args: str, fault: str | None = None, timeout: float = 300):
    env = {"MEEK_HOME": str(home)}
    if fault:
        env["MEEK_INJECT_FAULT"] = fault
    return run_meek(*args, env=env, timeout=timeout)


def only_result(cwd: Path):
    (path,) = (cwd / "results").glob("*/*.json")
    return read_result(path)


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_the_real_probe_decides_what_runs_here(run_meek, fresh_home, tmp_path, smollm2_path):
    """The real probe on this machine. Where the repack path crashes (the AMX VM), measurements fall back to --repack 0 and
    say so in one line; elsewhere they keep llama.cpp's default, --repack 1, and say nothing."""
    code, _, stderr = meek(run_meek, fresh_home, *SMALL_BENCH)
    assert code == 0, stderr
    verdict = preflight.cached(fingerprint())  # the verdict the bench made
    assert verdict is not None and verdict.repack_default in (0, 1)
    result = only_result(tmp_path)
    assert {run.settings.repack for run in result.runs} == {verdict.repack_default}
    notes = lines_starting(stderr, "note: ")
    if verdict.repack_default == 0:  # this machine's repack path crashed for real
        assert verdict.crashed and verdict.crashed.split()[0] in ("SIGILL", "SIGSEGV", "SIGBUS")
        assert len(notes) == 1 and "--repack 0" in notes[0] and "--repack 1 tries again" in notes[0]
        assert [p.path for p in result.machine.cpu_paths_disabled] and result.machine.cpu_paths_disabled[0].reason
    else:
        assert notes == [] and result.machine.cpu_paths_disabled == []


def test_a_crash_with_repack_on_falls_back_and_is_recorded(run_meek, fresh_home, tmp_path):
    code, stdout, stderr = meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGILL")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    (note,) = lines_starting(stderr, "note: ")
    assert "SIGILL" in note and "--repack 0" in note and "tries again" in note
    result = only_result(tmp_path)
    assert result.status == "complete" and {run.settings.repack for run in result.runs} == {0}
    disabled = result.machine.cpu_paths_disabled
    assert disabled and all("SIGILL" in p.reason for p in disabled)
    assert "| rpk |" in stdout.splitlines()[0] and "| 0 |" in stdout  # the table says which setting ran
    verdicts = list((fresh_home / "preflight").glob("*.json"))
    assert len(verdicts) == 1 and json.loads(verdicts[0].read_text())["repack_default"] == 0


def test_the_verdict_is_cached_and_reused(run_meek, fresh_home, tmp_path):
    meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGILL")
    # no fault now: a fresh probe would find repack on runs (or crash for real on the AMX VM); the stored verdict decides
    code, _, stderr = meek(run_meek, fresh_home, *SMALL_BENCH)
    assert code == 0, stderr
    repacks = {run.settings.repack for path in (tmp_path / "results").glob("*/*.json") for run in read_result(path).runs}
    assert repacks == {0}
    assert lines_starting(stderr, "note: ") == []  # the note is said once, when the verdict was made, not on every run


def test_the_note_is_said_once_per_verdict(run_meek, fresh_home, tmp_path):
    first = meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGILL")
    second = meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGILL")
    assert first[0] == second[0] == 0, (first[2], second[2])
    assert len(lines_starting(first[2], "note: ")) == 1 and "SIGILL" in lines_starting(first[2], "note: ")[0]
    assert lines_starting(second[2], "note: ") == []


def test_a_new_llama_cpp_build_invalidates_the_verdict(fresh_home, smollm2_path):
    machine = fingerprint()
    verdict = preflight.check(smollm2_path, machine, threads=2)
    assert preflight.cached(machine) == verdict
    for field, value in (("commit", "another-commit"), ("llama_cpp_python", "9.9.9"), ("system_info", "CPU : AVX2 = 1 |")):
        rebuilt = machine.model_copy(update={"llama_cpp": machine.llama_cpp.model_copy(update={field: value})})
        assert preflight.cached(rebuilt) is None, field
    moved = machine.model_copy(update={"machine_id": "another-machine-8g-abcdef"})
    assert preflight.cached(moved) is None


def test_forcing_repack_1_where_it_crashes_is_one_clear_line(run_meek, fresh_home, tmp_path):
    code, stdout, stderr = meek(run_meek, fresh_home, *SMALL_BENCH, "--repack", "1", fault="probe-repack1=SIGILL")
    assert code == 1
    assert "Traceback" not in stderr and stdout == ""
    (error,) = lines_starting(stderr, "error: ")
    assert "--repack 1 crashes on this machine" in error and "SIGILL" in error and "--repack 0 runs" in error
    assert not list(tmp_path.glob("core*"))  # the crashed worker left no core file
    assert not (tmp_path / "results").exists()  # nothing was measured, so nothing is saved


def test_a_sweep_over_both_settings_keeps_the_one_that_runs(run_meek, fresh_home, tmp_path):
    code, _, stderr = meek(run_meek, fresh_home, *SMALL_BENCH, "--repack", "0,1", fault="probe-repack1=SIGILL")
    assert code == 1  # one setting failed
    result = only_result(tmp_path)
    assert {run.settings.repack for run in result.runs} == {0} and result.status == "partial"
    assert any("--repack 1 crashes" in e.message for e in result.errors)


def test_a_build_that_crashes_either_way_names_the_cpu_features(run_meek, fresh_home, tmp_path):
    code, _, stderr = meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGILL,probe-repack0=SIGILL")
    assert code == 1 and "Traceback" not in stderr
    (error,) = lines_starting(stderr, "error: ")
    assert "even with --repack 0" in error and "CMAKE_ARGS=" in error and "rebuild" in error
    assert not list((fresh_home / "preflight").glob("*.json"))  # no verdict stored for a build that cannot run


def test_a_wheel_built_for_another_cpu_names_what_this_cpu_lacks(monkeypatch):
    build = LlamaBuild(cpu_features_used=["SSE3", "AVX", "AVX2", "FMA", "AVX512", "AVX512_VNNI", "OPENMP"])
    machine = fingerprint(include_build=False).model_copy(update={"llama_cpp": build})
    monkeypatch.setattr(preflight, "cpu_flags", lambda: ["avx", "avx2", "fma", "f16c"])
    message = preflight.broken_build_message(machine, "SIGILL")
    assert "uses AVX512, AVX512_VNNI, which this CPU does not run" in message
    assert "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" in message
    assert "AVX512" not in message.split("CMAKE_ARGS=")[1]  # the rebuild line asks only for what this CPU runs


def test_the_simd_warning_never_advises_an_amx_rebuild():
    assert missing_simd(["avx2", "amx_int8"], ["AVX2"]) == []
    assert missing_simd(["avx2", "avx512f", "amx_int8"], ["AVX2"]) == ["AVX512"]


def test_meek_machine_shows_the_verdict(run_meek, fresh_home):
    meek(run_meek, fresh_home, *SMALL_BENCH, fault="probe-repack1=SIGSEGV")
    code, stdout, stderr = meek(run_meek, fresh_home, "machine")
    assert code == 0, stderr
    (line,) = [line for line in stdout.splitlines() if line.strip().startswith("preflight:")]
    assert "SIGSEGV" in line and "--repack 0" in line
    code, stdout, _ = meek(run_meek, fresh_home, "machine", "--json")
    facts = json.loads(stdout)
    assert facts["cpu_paths_disabled"] and "SIGSEGV" in facts["preflight"]


def test_a_worker_crash_mid_bench_is_an_error_entry_with_a_hint(run_meek, fresh_home, tmp_path):
    code, _, stderr = meek(run_meek, fresh_home, *SMALL_BENCH, fault="bench-decode=SIGBUS")
    assert code == 1 and "Traceback" not in stderr
    (error,) = lines_starting(stderr, "error: ")
    assert "died with SIGBUS" in error and "faulted in a CPU kernel" in error


def eval_args(*extra: str) -> tuple[str, ...]:
    return ("eval", "-m", "smollm2-135m", "--data-dir", str(FIXTURES), "--tasks", "tiny_arc", *extra)


def test_an_eval_crash_is_one_line_and_the_rerun_resumes_with_the_same_scores(run_meek, fresh_home, tmp_path):
    pytest.importorskip("lm_eval")
    code, stdout, stderr = meek(run_meek, fresh_home, *eval_args(), fault="eval-request-20=SIGILL", timeout=600)
    assert code == 1 and stdout == ""
    assert "Traceback" not in stderr and "leaked semaphore" not in stderr
    (error,) = lines_starting(stderr, "error: ")
    assert "died with SIGILL" in error and "run the same command again to resume" in error
    kept = int(error.split(" scored requests are kept")[0].rsplit(" ", 1)[1])
    assert kept == 16  # tiny_arc: 12 questions x 4 choices, scored a question at a time, cut off before request 20
    assert not (tmp_path / "results").exists()

    code, stdout, stderr = meek(run_meek, fresh_home, *eval_args(), timeout=600)
    assert code == 0, stderr
    assert f"resuming: {kept} scored requests are already in the cache" in stderr
    resumed = {s.metric: s.value for s in only_result(tmp_path).scores}

    clean_home = tmp_path / "clean-home"
    clean_home.mkdir()
    code, _, stderr = meek(run_meek, clean_home, *eval_args("--results-dir", str(tmp_path / "clean")), timeout=600)
    assert code == 0, stderr
    (clean_file,) = (tmp_path / "clean").glob("*/*.json")
    assert resumed == {s.metric: s.value for s in read_result(clean_file).scores}  # resuming changes no score


def test_an_eval_hang_is_stopped_by_its_timeout(run_meek, fresh_home, tmp_path):
    pytest.importorskip("lm_eval")
    code, _, stderr = meek(run_meek, fresh_home, *eval_args("--timeout", "20"), fault="eval-request-9=SIGSTOP", timeout=300)
    assert code == 1 and "Traceback" not in stderr
    (error,) = lines_starting(stderr, "error: ")
    assert "no progress for 20 s" in error and "resume" in error
    kept = int(error.split(" scored requests are kept")[0].rsplit(" ", 1)[1])
    assert kept == 8  # stopped before request 9: the two questions scored before it are kept


def test_bench_with_eval_keeps_its_speed_runs_when_scoring_crashes(run_meek, fresh_home, tmp_path):
    pytest.importorskip("lm_eval")
    code, _, stderr = meek(
        run_meek,
        fresh_home,
        *SMALL_BENCH,
        "--eval",
        "tiny_arc",
        "--data-dir",
        str(FIXTURES),
        fault="eval-request-5=SIGILL",
        timeout=600,
    )
    assert code == 1 and "Traceback" not in stderr
    (error,) = lines_starting(stderr, "error: ")
    assert "scoring stopped" in error and "died with SIGILL" in error
    result = only_result(tmp_path)
    assert result.runs and not result.scores and result.status == "partial"
    assert [e.stage for e in result.errors] == ["eval"]
