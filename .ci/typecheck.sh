#!/usr/bin/env bash
# mypy --strict over otel_perf as installed: processors/ and exporters/ are mapped
# into otel_perf by setuptools' package-dir, which mypy cannot follow, so build a
# tree of symlinks with that layout and check the package from there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
tree="$root/build/typecheck"
rm -rf "$tree"
mkdir -p "$tree"
cp -rs "$root/otel_perf" "$tree/otel_perf"
ln -s "$root/processors" "$tree/otel_perf/processors"
ln -s "$root/exporters" "$tree/otel_perf/exporters"
cd "$tree"
"$root/.venv/bin/mypy" --config-file "$root/pyproject.toml" -p otel_perf
