"""README and `.env.example` document every environment variable the settings read; README opens with the commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ_BY_SETTINGS = re.compile(r"""env_(?:str|bool|int|float|list)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def _variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "lifecycle_crm").glob("*.py"):
        names |= set(READ_BY_SETTINGS.findall(path.read_text()))
    return names


def test_settings_read_the_variables_the_issue_names():
    assert {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL"} <= (
        _variables()
    )


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    missing = sorted(_variables() - listed)
    assert not missing, f".env.example does not list {missing}"


def test_readme_configuration_table_lists_every_variable():
    text = (ROOT / "README.md").read_text()
    missing = sorted(name for name in _variables() if f"`{name}`" not in text)
    assert not missing, f"README's configuration table does not list {missing}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:5]
    assert any(line.strip().startswith("make run") for line in head)
    assert any(line.strip().startswith("make test") for line in head)
