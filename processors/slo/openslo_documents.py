"""OpenSLO files read as YAML documents that remember where each value is.

Problems found in a document are named by file, document, path and position
(``slos.yaml:12:17 [doc 2] spec.objectives[0].target: ...``); pydantic validation
errors are rendered the same way, with the keys allowed where a key was unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from otel_perf.config import Problem

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class _FileProblem(Problem):
    """A problem that names its own file (a file set's problems share one ConfigError)."""

    file: str = ""

    def render(self, source: str) -> str:
        return super().render(self.file or source)


@dataclass
class _Doc:
    """One OpenSLO object and where its values are in the file."""

    file: str
    label: str  # "[doc 2] " when the file holds several documents
    base: str  # "[3]" for the list form
    data: Any
    positions: dict[str, tuple[int, int]]
    problems: list[Problem] = field(repr=False)

    def add(self, path: str, message: str) -> None:
        full = _join(self.base, path)
        line, column = self._position(full)
        shown = f"{self.label}{full}".strip()
        self.problems.append(_FileProblem(shown, message, line, column, file=self.file))

    def where(self, path: str) -> str:
        line, column = self._position(_join(self.base, path))
        return f"{self.file}:{line}:{column}"

    def model(self, model: type[_M], body: Any, path: str) -> _M | None:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                self.add(_join(path, _loc(error["loc"])), _message(model, error))
            return None

    def _position(self, path: str) -> tuple[int | None, int | None]:
        while path not in self.positions and path:
            path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)
        line, column = self.positions.get(path, (None, None))
        return line, column


def _documents(file: str, text: str, problems: list[Problem]) -> list[_Doc] | None:
    """The file's OpenSLO objects; None when it is not YAML."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
        problems.append(_FileProblem("", message, line, column, file=file))
        return None
    docs: list[_Doc] = []
    for number, node in enumerate(nodes, 1):
        positions: dict[str, tuple[int, int]] = {}
        duplicates: list[str] = []
        data = _construct(node, "", positions, duplicates, yaml.SafeLoader(""))
        label = f"[doc {number}] " if len(nodes) > 1 else ""
        items = list(enumerate(data)) if isinstance(data, list) else [(None, data)]
        docs += [
            _Doc(file, label, "" if i is None else f"[{i}]", item, positions, problems)
            for i, item in items
            if item is not None
        ]
        for path in duplicates:
            _Doc(file, label, "", None, positions, problems).add(path, "key appears twice")
    return docs


def _construct(
    node: yaml.Node,
    path: str,
    positions: dict[str, tuple[int, int]],
    duplicates: list[str],
    loader: yaml.SafeLoader,
) -> Any:
    """Plain data from YAML nodes, recording where each path's value starts."""
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            child = _join(path, str(key_node.value))
            if key_node.value in out:
                duplicates.append(child)
            out[str(key_node.value)] = _construct(value_node, child, positions, duplicates, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, f"{path}[{i}]", positions, duplicates, loader)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node)


def _join(path: str, child: str) -> str:
    if not path or not child:
        return path or child
    return f"{path}{child}" if child.startswith("[") else f"{path}.{child}"


def _loc(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _message(model: type[BaseModel], error: Any) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        keys = _keys(model, error["loc"][:-1])
        return "unknown key" + (f" (expected one of: {', '.join(keys)})" if keys else "")
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {given!r}"
    if kind == "list_type":
        return f"expected a list, got {given!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if kind == "value_error" else f"{message}, got {given!r}"


def _keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at ``loc`` inside ``model``, as written in YAML."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        current = _inner_model(fields[str(part)].annotation) if part in fields else None
        if current is None:
            return []
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None
