"""The import contracts (pyproject.toml, checked by `lint-imports` in `make lint`) cover every app.

import-linter only looks at the packages it is told about: an app missing from `root_packages`
or from the layers would silently escape every contract. The layers' order is the one
docs/ARCHITECTURE.md describes.
"""

import tomllib
from pathlib import Path

from django.apps import apps

from analytics.reports.registry import REPORTS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _project_apps() -> set[str]:
    return {config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT}


def test_every_project_app_is_checked_by_the_import_contracts():
    assert _project_apps() - set(CONFIG["root_packages"]) == set()


def test_every_project_app_has_its_place_in_the_layers():
    layers = next(c for c in CONFIG["contracts"] if c["id"] == "layers")["layers"]
    named = {layer.strip("()") for layer in layers}
    assert (_project_apps() | {"lifecycle_crm"}) - named == set()
    assert layers[-1] == "lifecycle_crm"  # the framework imports no app


def test_the_documented_order_is_the_enforced_one():
    layers = next(c for c in CONFIG["contracts"] if c["id"] == "layers")["layers"]
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    documented = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `")]
    assert [layer.strip("()") for layer in reversed(layers)] == documented


def test_every_report_module_is_listed_in_the_registry():
    modules = {path.stem for path in (ROOT / "analytics" / "reports").glob("*.py")} - {"__init__", "base", "registry"}
    assert set(REPORTS) == modules
