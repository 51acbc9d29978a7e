"""The layer contracts (pyproject.toml's ``[tool.importlinter]``, run by ``.ci/importlint.sh``
in ``make test``) cover the whole tree: every core module is a source of the "core imports no
component" contract, and every component folder is in the independence contract."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


def contract(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (found,) = [c for c in config["contracts"] if c["id"] == contract_id]
    return dict(found)


def children(folder: Path) -> set[str]:
    """Modules and packages directly in ``folder``."""
    names = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


def test_every_core_module_is_held_to_import_no_component() -> None:
    listed = set(contract("core-imports-no-component")["source_modules"])
    core = {f"otel_perf.{name}" for name in children(ROOT / "otel_perf")}
    assert core - listed == set(), "add these to the contract's source_modules"
    assert listed - core == set(), "these are no longer core modules"


def test_every_component_is_in_the_independence_contract() -> None:
    listed = set(contract("components-are-independent")["modules"])
    components = {
        f"otel_perf.{kind}.{name}"
        for kind in ("processors", "exporters")
        for name in children(ROOT / kind)
        if (ROOT / kind / name).is_dir()
    }
    assert components == listed
