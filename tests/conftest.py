"""Shared fixtures: the reference data in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _close_figures() -> object:
    """Plots made by a test are closed after it (matplotlib warns past 20 open figures)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# ---- a real PostgreSQL server for the history store's tests ---------------------------


def _pg_bindir() -> Path | None:
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs else None


def _install_postgres() -> str | None:
    """Install Debian's postgresql when missing (as root); the reason when it cannot."""
    import os
    import shutil
    import subprocess

    if _pg_bindir() is not None:
        return None
    if shutil.which("apt-get") is None:
        return "PostgreSQL is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "PostgreSQL is not installed (install it: apt-get install postgresql)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if run.returncode != 0 or _pg_bindir() is None:
        return f"apt-get install postgresql failed: {run.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """``postgresql://`` URL of a PostgreSQL server started for this test session on
    127.0.0.1 (a free port, a temporary data directory, as user ``postgres`` when the
    tests run as root), stopped afterwards. Skips with the reason when PostgreSQL or
    psycopg cannot be had."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    pytest.importorskip("psycopg", reason="psycopg 3 is not installed")
    reason = _install_postgres()
    if reason:
        pytest.skip(reason)
    bindir = _pg_bindir()
    assert bindir is not None
    data = Path(tempfile.mkdtemp(prefix="perfstats-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*cmd: str) -> None:
        out = subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {out.stdout}\n{out.stderr}")

    db = data / "db"
    run(str(bindir / "initdb"), "-D", str(db), "-A", "trust", "-U", "perfstats", "-N")
    opts = (
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(db),
        "-o",
        opts,
        "-l",
        str(data / "log"),
        "-w",
        "start",
    )
    try:
        yield f"postgresql://perfstats@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(db), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty history store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    import uuid

    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


@pytest.fixture(scope="session")
def client() -> object:
    """A Dask cluster of two worker processes with one thread each, on 127.0.0.1
    (dashboard on a free port: other clusters may hold 8787), shared by the Dask
    tests; skipped without ``distributed``."""
    distributed = pytest.importorskip("distributed", reason="the cluster tests need it")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=":0",
        memory_limit="1GiB",
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()
