"""An import-linter contract: no name starting with `_` is imported from another app.

import-linter's own contracts see modules, not names: `from stages.api.views import _CrudViewSet`
is a module import it allows. A leading underscore says "mine, may change without notice", so an
app that needs such a name asks its owner to make it public (or moves it down to where both belong).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output


class PrivateNamesContract(Contract):
    """Checks every `from <app>.… import _name` whose importer belongs to another root package."""

    type_name = "private_names"

    ignore_imports = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = set(self.session_options["root_packages"])
        allowed = set(self.ignore_imports or ())  # entries "importer -> module._name"
        illegal = []
        for importer in sorted(graph.modules):
            # Found from the working directory (where lint-imports runs), not imported: importing
            # the apps would need Django's settings.
            base = Path(*importer.split("."))
            path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if not path.is_file():
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                app = node.module.split(".")[0]
                if app not in roots or app == importer.split(".")[0]:
                    continue
                for alias in node.names:
                    name = alias.name
                    private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
                    if private and f"{importer} -> {node.module}.{name}" not in allowed:
                        illegal.append(f"{importer} -> {node.module}.{name} (l.{node.lineno})")
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error("Private names imported from another app:", bold=False)
        output.new_line()
        for line in check.metadata["illegal"]:
            output.print_error(f"- {line}", bold=False)
            output.new_line()
