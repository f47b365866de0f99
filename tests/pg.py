"""A throw-away PostgreSQL cluster for the clinic-chain tests and benchmark: Debian's initdb into a
temporary folder, `postgres` on a free loopback port and a socket folder of its own, stopped and
removed at the end. Run as root (CI, containers), the server runs as the `postgres` user (initdb
refuses root). Absent PostgreSQL skips the tests, unless REQUIRE_POSTGRES=1 (CI) fails them."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

REASON_ABSENT = ("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                 "apt-get install postgresql, or set REQUIRE_POSTGRES=1 to make this a failure")


def binaries() -> Path | None:
    """The folder of Debian's PostgreSQL programs (the newest version installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def is_required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES") == "1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One PostgreSQL server of our own: start() it, make databases with new_database(), stop()."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="clinic-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o755)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def start(self) -> Cluster:
        subprocess.run([*self.as_user, str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        self.process = subprocess.Popen(
            [*self.as_user, str(self.bin_dir / "postgres"), "-D", str(self.data), "-k", str(self.root),
             "-p", str(self.port), "-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=(self.root / "server.log").open("wb"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import adbc_driver_postgresql.dbapi as pgdb

        deadline = time.monotonic() + 60
        while True:
            try:
                pgdb.connect(self.url("postgres")).close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database of its own; its address (CLINIC_DATABASE_URL)."""
        import adbc_driver_postgresql.dbapi as pgdb

        name = f"chain_{uuid.uuid4().hex[:12]}"
        with pgdb.connect(self.url("postgres"), autocommit=True) as con, con.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")  # a generated name, not input
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # "fast": clients still connected (a test's replicas) are disconnected, not waited for.
            subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"],
                           capture_output=True, timeout=60)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
