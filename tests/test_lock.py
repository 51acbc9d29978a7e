"""requirements.lock pins every package that `make test` and `make run` install.

A fresh machine installs the lock with `--require-hashes --no-deps`, so a dependency named in
pyproject.toml but missing from the lock would fail the install; one pinned outside its range
would install a version the project never allowed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        names.extend(extra)
    # the project itself, named by its `dev` extra to bring in the others, is not pinned
    return [r for r in map(Requirement, names) if canonicalize_name(r.name) != "otel-perf"]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject.toml's "
            f"{requirement.specifier}"
        )


def test_every_pin_carries_a_hash_and_no_index_is_named() -> None:
    text = (ROOT / "requirements.lock").read_text()
    assert len(locked()) == text.count("==")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert all("--hash=sha256:" in block for block in blocks if PIN.match(block))
    assert "--index-url" not in text and "--find-links" not in text


def test_the_tools_that_make_installs_are_pinned_too() -> None:
    pins = locked()
    for tool in ("pip", "setuptools", "wheel", "pip-tools", "ruff", "mypy"):
        assert tool in pins, f"{tool} is not pinned in requirements.lock"
