"""Map processors/ and exporters/ into the otel_perf namespace.

Subpackages are discovered here so that adding a processor folder needs no
edit to pyproject.toml; tests/test_packaging.py checks the wheel holds them all.
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup

ROOT = Path(__file__).parent
MAPPED = {"otel_perf.processors": "processors", "otel_perf.exporters": "exporters"}

packages = find_packages(include=["otel_perf", "otel_perf.*"])
# folders of data files (no __init__.py) are declared too, or setuptools warns at every install
packages += ["otel_perf.dashboard.static"]
package_dir = {"otel_perf": "otel_perf"}
for namespace, folder in MAPPED.items():
    package_dir[namespace] = folder
    packages.append(namespace)
    for sub in find_packages(where=folder):
        packages.append(f"{namespace}.{sub}")

# The native OTLP decode, compiled by the ordinary install with the machine's C compiler.
# Optional: without a compiler the install still succeeds (with a warning) and
# otel_perf.decode.columnar decodes with the protobuf library instead.
columnar = Extension(
    "otel_perf.decode._columnar",
    sources=["otel_perf/decode/_columnar.c"],
    extra_compile_args=["-O2", "-std=c11"],
    optional=True,
)

# Self time and critical path of many traces at once (processors/bottlenecks/fast.py);
# optional in the same way: without it the bottleneck analysis runs in Python.
tree = Extension(
    "otel_perf.processors.bottlenecks._tree",
    sources=["processors/bottlenecks/_tree.c"],
    extra_compile_args=["-O2", "-std=c11"],
    optional=True,
)

# A batch's rows grouped by the values of several columns in one pass (otel_perf/facts.py:
# the operation column, span metrics' series); optional too: without it numpy groups them.
groups = Extension(
    "otel_perf._groups",
    sources=["otel_perf/_groups.c"],
    extra_compile_args=["-O2", "-std=c11"],
    optional=True,
)

setup(packages=packages, package_dir=package_dir, ext_modules=[columnar, tree, groups])
