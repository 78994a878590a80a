"""Private instances of the servers the runtime depends on, started by the tests on their own ports.

Never the machine's shared services: a test that kills Redis kills its own. A missing binary skips
the test with the reason, unless MODELHUB_REQUIRE_REDIS=1 (CI) makes it a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests.runtime.conftest import free_port


class PrivateRedis:
    """A ``redis-server`` on its own port that keeps nothing on disk; ``kill`` and ``start`` it at will."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("MODELHUB_REQUIRE_REDIS") == "1":
                pytest.fail("redis-server is not installed (apt-get install redis-server)")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash: no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster made with ``initdb`` in a temporary directory, on its own port (trust auth).

    Run as the ``postgres`` user when the tests run as root (initdb refuses root). ``stop`` is an
    immediate shutdown, as a crash: open connections are cut.
    """

    def __init__(self) -> None:
        bin_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        found = shutil.which("initdb") or next((str(d / "initdb") for d in reversed(bin_dirs)), None)
        if found is None or not Path(found).exists():
            if os.environ.get("MODELHUB_REQUIRE_REDIS") == "1":
                pytest.fail("PostgreSQL's initdb is not installed (apt-get install postgresql)")
            pytest.skip("PostgreSQL's initdb is not installed")
        self.bin = Path(found).parent
        # Not under pytest's tmp_path: as root that is private to root, and the cluster runs as postgres.
        self.directory = Path(tempfile.mkdtemp(prefix="modelhub-pg-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            cwd="/",
            timeout=120,
        )

    def start(self) -> None:
        """Start it on its port (loopback only, no Unix socket) and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "-l", str(self.data / "log"), "start"
        )

    def stop(self) -> None:
        """Immediate shutdown (no checkpoint; clients are cut off)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        """Stop it if it runs and remove its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
