"""The record travels with the package: the wheel built from this checkout carries results/ as a snapshot, an installed
meek run outside a clone answers advise and compare from it (naming the snapshot and its date), a snapshot in $MEEK_HOME
is preferred when newer, and a snapshot whose members leave results/ is refused in one line."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness.record import snapshot

ROOT = Path(__file__).resolve().parent.parent


def _meek(cwd: Path, home: Path, *args: str, pythonpath: Path | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "MEEK_HOME": str(home)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel of this checkout, built as pip builds it, unpacked as pip installs it (its harness/ and data)."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(folder), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = folder.glob("meek_harness-*.whl")
    site = folder / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_an_installed_meek_answers_advise_from_the_shipped_snapshot(installed, tmp_path):
    packed = installed / "harness" / "data" / snapshot.NAME
    info = snapshot.read(packed)
    shipped = sorted(p.relative_to(ROOT / "results").as_posix() for p in (ROOT / "results").rglob("*.json"))
    with tarfile.open(packed) as archive:
        members = sorted(m.name.removeprefix("results/") for m in archive if m.name != snapshot.INFO)
    assert members == shipped and info.files == len(shipped)

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    code, stdout, stderr = _meek(
        empty, tmp_path / "home", "advise", "-m", "gpt-oss-120b-mxfp4", "--format", "json", pythonpath=installed
    )
    assert code == 0, stderr
    assert f"answering from the record snapshot at {packed}" in stderr
    assert f"made {info.made_utc:%Y-%m-%d}" in stderr and f"{len(shipped)} result file(s)" in stderr
    # the same answer as advise over the checkout's results/ itself
    code, expected, stderr = _meek(ROOT, tmp_path / "home", "advise", "-m", "gpt-oss-120b-mxfp4", "--format", "json")
    assert code == 0, stderr
    assert json.loads(stdout) == json.loads(expected)
    assert any(row["tg128 is"] == "measured" for row in json.loads(stdout)["devices"])


def test_a_newer_snapshot_in_meek_home_is_preferred_and_compare_reads_it(example_tree, tmp_path):
    home = tmp_path / "home"
    made = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)  # newer than any snapshot shipped in the package
    files = snapshot.pack(example_tree, home / snapshot.NAME, source="a test's example tree", made=made)
    assert files == len(list(example_tree.rglob("*.json")))
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code, stdout, stderr = _meek(cwd, home, "compare", "-m", "llama-3.1-8b-q4_k_m", "--format", "json")
    assert code == 0, stderr
    assert "from a test's example tree" in stderr and f"made {made:%Y-%m-%d}" in stderr
    code, expected, _ = _meek(
        cwd, home, "compare", "-m", "llama-3.1-8b-q4_k_m", "--format", "json", "--results-dir", str(example_tree)
    )
    assert code == 0
    assert json.loads(stdout) == json.loads(expected) and json.loads(stdout)["speed"]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("results/../../escaped.json", tarfile.REGTYPE),
        ("/tmp/absolute.json", tarfile.REGTYPE),
        ("results/m/link.json", tarfile.SYMTYPE),
    ],
)
def test_a_snapshot_with_a_member_outside_results_is_refused_in_one_line(tmp_path, name, kind):
    home = tmp_path / "home"
    home.mkdir()
    path = home / snapshot.NAME
    made = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    with tarfile.open(path, "w:xz") as archive:
        info = json.dumps({"format": 1, "made_utc": made.isoformat(), "source": "forged", "files": 1}).encode()
        member = tarfile.TarInfo(snapshot.INFO)
        member.size = len(info)
        archive.addfile(member, io.BytesIO(info))
        bad = tarfile.TarInfo(name)
        bad.type = kind
        bad.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        archive.addfile(bad, io.BytesIO(b"{}") if kind == tarfile.REGTYPE else None)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code, stdout, stderr = _meek(cwd, home, "advise", "-m", "gpt-oss-120b-mxfp4")
    assert code == 1 and stdout == ""
    assert stderr.count("\n") == 2 and "is not a result file" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "escaped.json").exists() and not Path("/tmp/absolute.json").exists()


def test_a_broken_snapshot_is_left_out_and_an_editable_install_reads_its_clone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / snapshot.NAME).write_bytes(b"not an archive")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code, stdout, stderr = _meek(cwd, home, "advise", "-m", "gpt-oss-120b-mxfp4", "--format", "json")
    assert code == 0, stderr
    assert "not a readable record snapshot" in stderr and f"answering from the checkout's record at {ROOT / 'results'}" in stderr
    assert json.loads(stdout)["devices"]
