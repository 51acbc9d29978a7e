#!/usr/bin/env bash
# import-linter over otel_perf as installed: processors/ and exporters/ are mapped into
# otel_perf by setuptools' package-dir, which grimp cannot follow (nor symlinked folders),
# so copy the sources into that layout and check the contracts in pyproject.toml there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
tree="$root/build/importlint"
rm -rf "$tree"
mkdir -p "$tree"
cp -r "$root/otel_perf" "$tree/otel_perf"
cp -r "$root/processors" "$tree/otel_perf/processors"
cp -r "$root/exporters" "$tree/otel_perf/exporters"
find "$tree" -name __pycache__ -prune -exec rm -rf {} +
cd "$tree"
PYTHONPATH="$tree" "$root/.venv/bin/lint-imports" "$root/pyproject.toml" "$@"
