"""Shape of the code: modules and lines per folder, long functions, duplicate pairs.

``python -m benchmarks.structure`` prints, for the package code (``otel_perf/``,
``processors/``, ``exporters/``): the number of modules and lines in each folder,
the number of functions longer than 30 lines, and the number of pairs the
``duplicates`` tool (on PATH, optional) reports for the whole tree. The last
line is one JSON object with the same figures.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("otel_perf", "processors", "exporters")
LONG_FUNCTION_LINES = 30


def package_modules(root: Path = ROOT) -> list[Path]:
    """Every ``.py`` file of the package code, sorted."""
    return sorted(p for top in PACKAGE_ROOTS for p in (root / top).rglob("*.py"))


def folder_of(path: Path, root: Path = ROOT) -> str:
    """The folder a module is counted under: its parent, relative to the repository."""
    return path.parent.relative_to(root).as_posix()


def lines_per_folder(modules: list[Path], root: Path = ROOT) -> dict[str, dict[str, int]]:
    """``{folder: {"modules": n, "lines": n}}`` in folder order."""
    counts: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for path in modules:
        folder = folder_of(path, root)
        counts[folder] += 1
        lines[folder] += len(path.read_text(encoding="utf-8").splitlines())
    return {f: {"modules": counts[f], "lines": lines[f]} for f in sorted(counts)}


def function_lengths(source: str) -> list[int]:
    """The length in lines of every function (methods and nested ones included)."""
    tree = ast.parse(source)
    return [
        (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def long_functions(modules: list[Path], limit: int = LONG_FUNCTION_LINES) -> int:
    """How many functions are longer than ``limit`` lines."""
    return sum(
        1
        for path in modules
        for length in function_lengths(path.read_text(encoding="utf-8"))
        if length > limit
    )


def duplicate_pairs(root: Path = ROOT) -> int | None:
    """The pair count of ``duplicates`` over the tree, or None when the tool is absent."""
    tool = shutil.which("duplicates")
    if tool is None:
        return None
    result = subprocess.run(
        [tool, "--repo", str(root), "--seconds", "120"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    first = result.stdout.splitlines()[0] if result.stdout else ""
    if first.startswith("no duplicates"):
        return 0
    match = re.search(r"(\d+)\s+pairs?", first)
    return int(match.group(1)) if match else None


def main() -> None:
    modules = package_modules()
    folders = lines_per_folder(modules)
    figures = {
        "modules": len(modules),
        "lines": sum(f["lines"] for f in folders.values()),
        "functions_over_30_lines": long_functions(modules),
        "duplicate_pairs": duplicate_pairs(),
        "folders": folders,
    }
    for folder, row in folders.items():
        print(f"{folder:<40} {row['modules']:>4} modules {row['lines']:>7} lines")
    print(f"total: {figures['modules']} modules, {figures['lines']} lines")
    print(f"functions over {LONG_FUNCTION_LINES} lines: {figures['functions_over_30_lines']}")
    print(f"duplicate pairs (duplicates tool, whole tree): {figures['duplicate_pairs']}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
