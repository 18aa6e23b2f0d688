"""Project-specific import-linter contracts (see [tool.importlinter] in pyproject.toml)."""
