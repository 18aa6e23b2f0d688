"""Fault tests (marker `faults`): run only when selected (`pytest -m faults`, CI's own step).

They start and kill private services and real processes, so the ordinary passes leave them
out instead of running them twice.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if "faults" in (config.getoption("markexpr") or ""):
        return
    skipped = [item for item in items if HERE in Path(str(item.fspath)).parents]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if item not in skipped]
