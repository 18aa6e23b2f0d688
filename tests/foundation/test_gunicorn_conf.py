"""gunicorn.conf.py: one worker per core unless WEB_CONCURRENCY says otherwise, and GUNICORN_CMD_ARGS still wins."""

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def load(monkeypatch, **env):
    for name in ("WEB_CONCURRENCY", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_defaults_one_threaded_worker_per_core(monkeypatch):
    import os

    conf = load(monkeypatch)
    assert conf["workers"] == (os.cpu_count() or 2)
    assert (conf["worker_class"], conf["threads"], conf["timeout"]) == ("gthread", 2, 60)
    assert conf["bind"] == "0.0.0.0:8000"


def test_web_concurrency_sets_the_workers(monkeypatch):
    assert load(monkeypatch, WEB_CONCURRENCY="5")["workers"] == 5


def test_gunicorn_cmd_args_override_the_file(monkeypatch):
    config = pytest.importorskip("gunicorn.app.wsgiapp")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 7")
    monkeypatch.setattr("sys.argv", ["gunicorn", "-c", str(CONF), "lifecycle_crm.wsgi:application"])
    app = config.WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
    assert app.cfg.workers == 7
    assert app.cfg.threads == 2
