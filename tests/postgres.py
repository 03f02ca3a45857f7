"""A throwaway PostgreSQL cluster for the tests: Debian's server (initdb, pg_ctl) run as the postgres user, its data and
socket in a private temporary folder, listening on 127.0.0.1 on a free port, stopped and removed on every path out.
Tests that need it skip when the server's binaries are not installed (or cannot be run as postgres)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "postgres"


def binaries() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0
    )
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + command, capture_output=True, text=True, timeout=timeout, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """A running cluster; yields its admin URL base (postgresql+psycopg://postgres@127.0.0.1:PORT)."""
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server is not installed (/usr/lib/postgresql/*/bin)")
    try:
        account = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip("no postgres user to run the server as")
    if os.geteuid() != 0 and os.geteuid() != account.pw_uid:
        pytest.skip("the cluster runs as the postgres user: the tests need root or that user")
    folder = Path(tempfile.mkdtemp(prefix="meek-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    os.chown(folder, account.pw_uid, account.pw_gid)
    os.chown(sockets, account.pw_uid, account.pw_gid)
    started = False
    try:
        made = _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8"])
        if made.returncode != 0:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
        port = _free_port()
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        started = True  # from here on, a stop is tried whatever happens
        run = _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start"]
        )
        if run.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else run.stderr
            pytest.fail(f"pg_ctl start failed: {log.strip()[-500:]}")
        yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}"
    finally:
        if started:
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(base: str, name: str) -> str:
    """A new, empty database in the cluster; its URL."""
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            return f"{base}/{name}"
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
