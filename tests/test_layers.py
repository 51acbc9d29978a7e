"""The layer contracts (pyproject.toml's ``[tool.importlinter]``, run by ``.ci/importlint.sh``
in ``make test``) cover the whole tree: every core module is a source of the "core imports no
component" contract, and every component folder is in the independence contract."""

from __future__ import annotations

import re
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


def layered() -> set[str]:
    """Every module the ``layers`` contract places, siblings (``|``, ``:``) split."""
    layers = contract("layers")["layers"]
    return {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}


def test_every_cli_module_has_a_layer() -> None:
    # the component commands import args / http, so each CLI module's place is decided
    # one by one; a new module would otherwise sit outside every layer unchecked
    cli = {f"otel_perf.cli.{name}" for name in children(ROOT / "otel_perf" / "cli")}
    assert cli - {"otel_perf.cli.__main__"} - layered() == set()


def test_the_surfaces_sit_above_the_components_above_the_engine() -> None:
    order = [set(re.split(r"\s*[|:]\s*", layer.strip())) for layer in contract("layers")["layers"]]
    index = {name: i for i, layer in enumerate(order) for name in layer}
    assert index["otel_perf.api"] < index["otel_perf.processors"] < index["otel_perf.pipeline"]
    assert index["otel_perf.cli.commands"] < index["otel_perf.processors"]


def test_the_app_library_contract_names_the_heavy_dependencies() -> None:
    lean = contract("app-library-is-lean")
    assert set(lean["source_modules"]) == {"otel_perf.asgi", "otel_perf.cache"}
    assert {"grpc", "numpy", "scipy", "ruptures", "otel_perf.pipeline"} <= set(
        lean["forbidden_modules"]
    )
