"""A component's ``testdata/``: where it is and its ``config.yaml``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from otel_perf.component import Factory

CONFIG_FILE = "config.yaml"


class TestdataError(Exception):
    """A component's testdata is missing or invalid; the message names the file."""

    __test__ = False  # not a pytest test class, whatever its name


def testdata_dir(factory: Factory[Any, Any]) -> Path:
    """``testdata/`` beside the module that defines the factory's config model.

    For a built-in type that is its folder (``processors/slo/testdata``); a third-party
    component keeps its testdata beside its own config module the same way.
    """
    module = sys.modules[factory.config_model.__module__]
    if module.__file__ is None:
        raise TestdataError(f"component type {factory.type!r}: its config module has no file")
    return Path(module.__file__).parent / "testdata"


testdata_dir.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


def load_config(
    factory: Factory[Any, Any],
    testdata: Path,
    substitutions: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Any:
    """``testdata/config.yaml`` (or ``path``) validated by the factory's config model.

    Each ``{name}`` in a string value is replaced by ``substitutions[name]`` (a temporary
    folder ``{tmp}``, a capture server's URL ``{capture}``, a free port ``{port}``).

    Raises:
        TestdataError: the file is missing, is not a YAML mapping, or does not validate;
            the message names the component type, the file and each bad setting.
    """
    path = path or testdata / CONFIG_FILE
    if not path.is_file():
        raise TestdataError(
            f"component type {factory.type!r} has no {path}: add the settings the contract "
            "suite should create it with (a minimal, documented example)"
        )
    body = yaml.safe_load(path.read_text(encoding="utf-8"))
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise TestdataError(f"{path}: expected a mapping of settings, got {type(body).__name__}")
    body = _substitute(body, substitutions or {})
    return validate(factory.config_model, body, f"{path} ({factory.type})")


def validate(model: type[BaseModel], body: Any, where: str) -> Any:
    """``body`` validated by ``model``; a :class:`TestdataError` naming ``where`` if not."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:  # pydantic's message names each setting and problem
        raise TestdataError(f"{where}: {exc}") from None


def _substitute(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        for name, value in values.items():
            node = node.replace("{" + name + "}", value)
        return node
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, values) for value in node]
    return node
