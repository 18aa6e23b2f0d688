"""Private services and app processes for the fault tests: each test kills its own, never the shared ones.

A private `redis-server` on a free port, a throwaway PostgreSQL cluster (`initdb` + `pg_ctl`
as user postgres under a temporary directory), the app under gunicorn and a Celery worker
(with beat, so the outbox relay runs) as subprocesses. Helpers skip with a reason when a
binary is missing (CRM_REQUIRE_SERVICES=1 turns that into a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import REPO, free_port

BOOT_SECONDS = 120  # a busy 2-core machine can take a while to import Django, Celery and gunicorn


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.5) -> object:
    """Poll until `predicate()` is truthy (returned) or fail after `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _which(name: str, *extra_dirs: str) -> str:
    found = shutil.which(name)
    if not found:
        for directory in extra_dirs:
            for candidate in sorted(Path("/").glob(directory.lstrip("/")), reverse=True):
                if (candidate / name).exists():
                    return str(candidate / name)
        pytest.skip(f"needs {name} on PATH for the fault tests (Debian: redis-server / postgresql)")
    return found


class PrivateRedis:
    """A redis-server of this test's own on a free port (no persistence); stop() and start() at will."""

    def __init__(self) -> None:
        self.binary = _which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, timeout=30, what=f"the private redis on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


class PrivateCluster:
    """A throwaway PostgreSQL cluster (initdb as user postgres in a temp dir, a free port); restart() at will."""

    def __init__(self) -> None:
        search = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")
        self.initdb = _which("initdb", *search)
        self.pg_ctl = _which("pg_ctl", *search)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="crm-faults-pg-"))
        self.data = self.root / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/crm_faults"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [*self._as_postgres, *args], check=True, timeout=timeout, stdout=subprocess.DEVNULL, cwd=self.root
        )

    def create(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE crm_faults")
        conn.close()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def app_env(*, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-settings app process (web, worker) on these services."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "OUTBOX_", "CACHE_URL", "PYTEST", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="lifecycle_crm.settings",
        DJANGO_SECRET_KEY="fault-tests-only",
        DJANGO_HTTPS="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_RESULT_BACKEND=broker_url,
        WEBHOOKS_ALLOW_PRIVATE_TARGETS="1",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


class Proc:
    """A subprocess with its output in a temp file (shown when a test fails), killable by its pid only."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"crm-faults-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(args, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        Path(self.log.name).unlink(missing_ok=True)


def start_web(env: dict[str, str]) -> tuple[Proc, str]:
    """gunicorn with the production settings on a free port (the repo's gunicorn.conf.py, 1 worker x 2 threads)."""
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = Proc(
        [gunicorn, "lifecycle_crm.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        {**env, "WEB_CONCURRENCY": "1"},
        "web",
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            pytest.fail(f"gunicorn exited: {proc.output()}")
        try:
            return request(base + "/healthz")[0] == 200
        except OSError:
            return False

    wait_for(up, timeout=BOOT_SECONDS, what="gunicorn to answer /healthz")
    return proc, base


def start_worker(env: dict[str, str], *, name: str, beat: bool = True) -> Proc:
    """A real Celery worker (solo pool) with embedded beat (the outbox relay) unless beat=False."""
    celery = str(Path(sys.executable).with_name("celery"))
    args = [celery, "-A", "lifecycle_crm", "worker", "--pool=solo", "--loglevel=INFO", "-n", f"{name}@%h"]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        schedule = Path(tempfile.mkdtemp(prefix="crm-faults-beat-")) / "schedule"
        args += ["-B", "-s", str(schedule)]
    return Proc(args, env, name)


def request(url: str, *, method: str = "GET", body: object = None, key: str | None = None, timeout: float = 60):
    """One HTTP request; returns (status, parsed JSON or text, seconds taken)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Host", "127.0.0.1")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    seconds = time.monotonic() - started
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = raw.decode(errors="replace")
    if isinstance(payload, dict):
        payload.setdefault("_retry_after", headers.get("Retry-After"))
    return status, payload, seconds


class Receiver:
    """A webhook receiver on a free port of 127.0.0.1 answering 200 to every POST (counts them)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.count = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
