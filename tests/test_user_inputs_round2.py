"""Issue 25, hostile input round 2: the scores a user adds (`meek frontier add`), the user table they are kept in, and
the user's own $MEEK_HOME/models.yaml. Each case runs the real `meek` with MEEK_HOME in a temporary folder and expects
one line on stderr, the documented exit code, and (for frontier add) nothing added."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

MEEK = Path(sys.executable).parent / "meek"
HEADER = "model,release_date,benchmark,score,open_weights,params_total_b,source_link\n"
GOOD_ROW = "MyModel-7B,2026-01-15,gpqa_diamond,88.5,true,7,https://example.org/card\n"
USER_KINDS = "epoch-run,developer-reported,user"


def meek(home: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    completed = subprocess.run(
        [str(MEEK), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home.parent,
        env={**os.environ, "MEEK_HOME": str(home)},
    )
    return completed.returncode, completed.stdout, completed.stderr


def one_error_line(code: int, stdout: str, stderr: str, expected_code: int, *needles: str) -> str:
    assert code == expected_code, stderr
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def home(tmp_path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


# ---- meek frontier add ------------------------------------------------------------------------------------------------
BAD_ROWS = {
    "future date": ("Fut-7B,2099-01-01,gpqa_diamond,88.5,true,7,https://example.org/c", "in the future"),
    "tomorrow": (f"Tom-7B,{dt.date.today() + dt.timedelta(days=1)},gpqa_diamond,88.5,true,7,", "in the future"),
    "zero params": ("Zero,2025-01-01,gpqa_diamond,50,true,0,https://example.org/c", "params_total_b"),
    "negative params": ("Neg,2025-01-01,gpqa_diamond,50,true,-7,https://example.org/c", "params_total_b"),
    "absurd params": ("Huge,2025-01-01,gpqa_diamond,50,true,1e12,https://example.org/c", "params_total_b"),
    "unparsable params": ("Word,2025-01-01,gpqa_diamond,50,true,seven,https://example.org/c", "params_total_b"),
    "score above 100": ("High,2025-01-01,gpqa_diamond,150,true,7,https://example.org/c", "score"),
    "negative score": ("Low,2025-01-01,gpqa_diamond,-5,true,7,https://example.org/c", "score"),
    "score not a number": ("NaN,2025-01-01,gpqa_diamond,nan,true,7,https://example.org/c", "score"),
    "unparsable date": ("Date,01/02/2025,gpqa_diamond,50,true,7,https://example.org/c", "release date"),
    "no score": ("Blank,2025-01-01,gpqa_diamond,,true,7,https://example.org/c", "no score"),
    "open weights word": ("Maybe,2025-01-01,gpqa_diamond,50,maybe,7,https://example.org/c", "open_weights"),
    "newline in name": ('"Forged\n- 16gb-gpu: fake line",2025-01-01,gpqa_diamond,50,true,7,https://example.org/c', "model"),
    "escape in name": ("Esc\x1b[2J,2025-01-01,gpqa_diamond,50,true,7,https://example.org/c", "control"),
    "bidi override in name": ("Bidi\u202egnp.exe,2025-01-01,gpqa_diamond,50,true,7,https://example.org/c", "control"),
    "markup in name": ("<script>x</script>,2025-01-01,gpqa_diamond,50,true,7,https://example.org/c", "markup"),
    "javascript link": ("Js,2025-01-01,gpqa_diamond,50,true,7,javascript:alert(1)", "markup"),
    "link not a web address": ("File,2025-01-01,gpqa_diamond,50,true,7,file:///etc/passwd", "http"),
}


@pytest.mark.parametrize("row, needle", BAD_ROWS.values(), ids=list(BAD_ROWS))
def test_frontier_add_refuses_a_bad_row_and_adds_nothing(home, tmp_path, row, needle):
    scores = tmp_path / "scores.csv"
    scores.write_text(HEADER + GOOD_ROW + row + "\n", encoding="utf-8")
    line = one_error_line(*meek(home, "frontier", "add", str(scores)), 2, "line 3", needle, "nothing was added")
    assert "\x1b" not in line and "\u202e" not in line
    assert not (home / "frontier-user.csv").exists()


def test_frontier_add_names_a_missing_column(home, tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("model,release_date,score\nX,2025-01-01,50\n")
    one_error_line(*meek(home, "frontier", "add", str(scores)), 2, "missing column(s) benchmark")
    assert not (home / "frontier-user.csv").exists()


def test_frontier_add_takes_todays_date_and_keeps_what_was_there(home, tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text(HEADER + GOOD_ROW)
    code, stdout, stderr = meek(home, "frontier", "add", str(scores))
    assert code == 0 and "added 1 row(s)" in stdout, stderr
    scores.write_text(HEADER + f"Today-8B,{dt.date.today()},gpqa_diamond,40,true,8,https://example.org/t\n")
    code, stdout, stderr = meek(home, "frontier", "add", str(scores))
    assert code == 0 and "(2 there)" in stdout and not stderr.strip(), stderr
    scores.write_text(HEADER + "Bad,2099-01-01,gpqa_diamond,40,true,8,https://example.org/t\n")
    before = (home / "frontier-user.csv").read_bytes()
    one_error_line(*meek(home, "frontier", "add", str(scores)), 2, "in the future")
    assert (home / "frontier-user.csv").read_bytes() == before


def test_frontier_add_does_not_hang_on_a_fifo(home, tmp_path):
    fifo = tmp_path / "scores.csv"
    os.mkfifo(fifo)
    one_error_line(*meek(home, "frontier", "add", str(fifo), timeout=30), 2, "not a regular file")
    assert not (home / "frontier-user.csv").exists()


def test_frontier_add_refuses_dev_zero_and_a_huge_file(home, tmp_path):
    one_error_line(*meek(home, "frontier", "add", "/dev/zero", timeout=30), 2, "not a regular file")
    huge = tmp_path / "huge.csv"
    with huge.open("w") as handle:
        handle.write(HEADER)
        handle.write(GOOD_ROW * (3 * 2**20 // len(GOOD_ROW)))
    one_error_line(*meek(home, "frontier", "add", str(huge), timeout=60), 2, "MiB limit")
    assert not (home / "frontier-user.csv").exists()


def test_frontier_add_does_not_write_through_a_planted_link(home, tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("keep\n")
    (home / "frontier-user.csv").symlink_to(elsewhere)
    scores = tmp_path / "scores.csv"
    scores.write_text(HEADER + GOOD_ROW)
    code, stdout, stderr = meek(home, "frontier", "add", str(scores))
    assert code == 1 and "Traceback" not in stderr
    assert "symbolic link" in stderr.splitlines()[-1]
    assert elsewhere.read_text() == "keep\n"


# ---- bad rows already in the user table (written by an older version) -------------------------------------------------
OLD_TABLE = (
    "# Rows added with `meek frontier add` (kind user); each keeps its source.\n"
    "model,organization,release_date,open_weights,params_total_b,params_active_b,benchmark,setting,score,source,"
    "source_link,kind\n"
    "Good-7B,,2025-06-01,True,7.0,,gpqa_diamond,not stated,88.5,example.org,https://example.org/card,user\n"
    "Neg-7B,,2025-06-01,True,-7.0,,gpqa_diamond,not stated,89.0,example.org,https://example.org/card,user\n"
    "Zero-7B,,2025-06-01,True,0.0,,gpqa_diamond,not stated,89.5,example.org,https://example.org/card,user\n"
    "Future-7B,,2099-06-01,True,7.0,,gpqa_diamond,not stated,95.0,example.org,https://example.org/card,user\n"
    '"Forged\n- 16gb-gpu: forged line",,2025-06-01,True,7.0,,gpqa_diamond,not stated,96.0,example.org,'
    "https://example.org/card,user\n"
)


def test_gap_skips_bad_user_rows_with_one_warning(home):
    (home / "frontier-user.csv").write_text(OLD_TABLE)
    code, stdout, stderr = meek(home, "gap", "-b", "gpqa_diamond", "--classes", "16gb-gpu", "--kinds", USER_KINDS)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "left out 4 row(s)" in lines[0], stderr
    assert "Good-7B [user]" in stdout
    assert "forged line" not in stdout and "Neg-7B" not in stdout and "Future-7B" not in stdout


def test_frontier_add_drops_old_bad_rows_and_keeps_the_good(home, tmp_path):
    (home / "frontier-user.csv").write_text(OLD_TABLE)
    scores = tmp_path / "scores.csv"
    scores.write_text(HEADER + GOOD_ROW)
    code, stdout, stderr = meek(home, "frontier", "add", str(scores))
    assert code == 0 and "(2 there)" in stdout, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1 and stderr.startswith("warning: ")
    code, stdout, stderr = meek(home, "frontier", "list", "--kinds", "user", "--format", "csv")
    assert code == 0 and not stderr.strip(), stderr
    assert "Good-7B" in stdout and "MyModel-7B" in stdout and "Forged" not in stdout


def test_gap_does_not_hang_on_a_fifo_user_table(home):
    os.mkfifo(home / "frontier-user.csv")
    code, stdout, stderr = meek(home, "gap", "-b", "gpqa_diamond", "--classes", "16gb-gpu", "--kinds", USER_KINDS, timeout=60)
    assert code == 0, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "not a regular file" in lines[0], stderr


# ---- the user's models.yaml -------------------------------------------------------------------------------------------
ENTRY = (
    "{id: my-model, name: My model, family: mine, tier: small, params_total_b: 1.0, params_active_b: 1.0, "
    "quant: Q4_K_M, release_date: 2025-01-01, license: mit, context_length: 4096, source: {path: /nowhere/my.gguf}%s}"
)
NOT_A_MAPPING_OF_ENTRIES = {
    "a list": ("- a\n- b\n", "not a list"),
    "a string": ("hello\n", "not text"),
    "models a mapping": ("models: {a: 1}\n", "'models' must be a list"),
    "models a number": ("models: 3\n", "'models' must be a list"),
    "entries not mappings": ("models: [1, 2]\n", "models entry 1 is a number"),
    "entry a string": ("models:\n  - my-model\n", "models entry 1 is text"),
    "a number as an id": ("models: [{id: 5}]\n", "id must be text"),
    "a number as a key": ("{1: 2}\n", "unknown key"),
    "YAML that fails to parse": ("models: [\n  - : : :\n", "not valid YAML"),
}
OUT_OF_BOUNDS = {
    "negative file size": (f"models: [{ENTRY % ', file_size_bytes: -5'}]\n", "file_size_bytes"),
    "zero file size": (f"models: [{ENTRY % ', file_size_bytes: 0'}]\n", "file_size_bytes"),
    "file size over 10 TB": (f"models: [{ENTRY % ', file_size_bytes: 50000000000000'}]\n", "file_size_bytes"),
    "file size too small for the parameters": (f"models: [{ENTRY % ', file_size_bytes: 1000'}]\n", "bits per weight"),
    "negative approximate size": (f"models: [{ENTRY % ', file_size_approx_gb: -1'}]\n", "file_size_approx_gb"),
    "absurd context": (f"models: [{ENTRY % ', context_length_extended: 10000000000'}]\n", "context_length_extended"),
    "zero shards": (
        f"models: [{ENTRY.replace('{path: /nowhere/my.gguf}', '{path: /x.gguf, hf_shards: 0}') % ''}]\n",
        "hf_shards",
    ),
    "absurd layers": (
        f"models: [{ENTRY % ', shape: {layers: 99999999, kv_heads: 1, head_dim: 64, heads: 1, embedding: 64, vocab: 10}'}]\n",
        "layers",
    ),
    "more active than total": (
        f"models: [{ENTRY.replace('params_active_b: 1.0', 'params_active_b: 9.0') % ''}]\n",
        "params_active_b",
    ),
}


@pytest.mark.parametrize("text, needle", NOT_A_MAPPING_OF_ENTRIES.values(), ids=list(NOT_A_MAPPING_OF_ENTRIES))
@pytest.mark.parametrize("command", [("models", "list"), ("bench", "-m", "x"), ("compare",)], ids=["models", "bench", "compare"])
def test_a_user_models_file_that_is_not_entries_is_one_line_naming_it(home, text, needle, command):
    models_file = home / "models.yaml"
    models_file.write_text(text)
    (home.parent / "results").mkdir(exist_ok=True)  # what meek compare reads (empty: the catalogue is read first)
    one_error_line(*meek(home, *command), 1, str(models_file), needle)


@pytest.mark.parametrize("text, needle", OUT_OF_BOUNDS.values(), ids=list(OUT_OF_BOUNDS))
def test_a_user_entry_out_of_bounds_is_refused(home, text, needle):
    models_file = home / "models.yaml"
    models_file.write_text(text)
    one_error_line(*meek(home, "models", "list"), 1, str(models_file), "model 'my-model' (entry 1)", needle)


def test_a_good_user_entry_loads_beside_the_bundled_catalogue_and_the_same_with_a_negative_size_does_not(home):
    (home / "models.yaml").write_text(f"models: [{ENTRY % ', file_size_bytes: 600000000'}]\n")
    code, stdout, stderr = meek(home, "models", "list")
    assert code == 0, stderr
    assert "my-model" in stdout and "smollm2-135m" in stdout
    (home / "models.yaml").write_text(f"models: [{ENTRY % ', file_size_bytes: -600000000'}]\n")
    one_error_line(*meek(home, "models", "list"), 1, "file_size_bytes", "greater than 0")
