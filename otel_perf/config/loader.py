"""YAML with positions, ``${env:NAME}`` substitution, and whole-tree validation.

Every problem is collected, then raised at once in a :class:`ConfigError`,
each as ``file:line:col path: message`` (the Collector's confmap joins errors
the same way).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from otel_perf.component import ComponentConfig, component_type, exporter_types, processor_types
from otel_perf.config.models import (
    EXTENSION_TYPES,
    RECEIVER_SIGNALS,
    RECEIVER_TYPES,
    RawConfig,
    ServiceSettings,
)
from otel_perf.config.types import FROM_YAML

EMBEDDED = "<embedded default>"
#: a config is small: past these, YAML aliases are expanding (a "billion laughs") or the
#: document refers to itself, and loading would hang or overflow the stack
MAX_NODES = 100_000
MAX_DEPTH = 64
_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass(frozen=True)
class Problem:
    """One config mistake: where it is and what was wrong."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def render(self, source: str) -> str:
        where = source
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(ValueError):
    """Every problem found in one config, with positions."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


@dataclass(frozen=True)
class Config:
    """A validated config: each component's settings parsed by its own model."""

    source: str
    receivers: dict[str, ComponentConfig]
    processors: dict[str, ComponentConfig]
    exporters: dict[str, ComponentConfig]
    extensions: dict[str, ComponentConfig]
    service: ServiceSettings
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def redacted(self) -> dict[str, Any]:
        """The resolved config as plain data with secrets shown as <redacted>."""
        sections: dict[str, Any] = {}
        for name in ("receivers", "processors", "exporters", "extensions"):
            components: dict[str, ComponentConfig] = getattr(self, name)
            sections[name] = {cid: cfg.model_dump(mode="json") for cid, cfg in components.items()}
        sections["service"] = self.service.model_dump(mode="json")
        return sections


def default_config_text() -> str:
    return resources.files("otel_perf.config").joinpath("default.yaml").read_text()


def load_embedded() -> Config:
    """The embedded default, with an ``otlp`` exporter when the environment names an OTLP
    endpoint that is not this otel-perf's own receiver (see ``otel_perf.config.embedded``)."""
    from otel_perf.config import embedded

    environ = os.environ
    text = default_config_text()
    config = _validate(EMBEDDED, text)
    targets = embedded.otlp_targets(environ)
    looping = {s: e for s, e in targets.items() if embedded.points_at(e, config.receivers)}
    if looping:
        embedded.log.warning(
            "not exporting %s over OTLP to %s: that is this otel-perf's own receiver; unset "
            "OTEL_EXPORTER_OTLP_ENDPOINT for otel-perf or point it at your backend",
            " and ".join(looping),
            ", ".join(sorted(set(looping.values()))),
        )
    targets = {s: e for s, e in targets.items() if s not in looping}
    if not targets:
        return config
    protocol = environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "grpc", "http/protobuf"):
        message = f'OTEL_EXPORTER_OTLP_PROTOCOL is "{protocol}"; expected grpc or http/protobuf'
        raise ConfigError(EMBEDDED, [Problem("exporters.otlp.protocol", message)])
    return _validate(EMBEDDED, embedded.with_otlp(text, set(targets), protocol))


def load_config(path: str | Path | None = None, *, text: str | None = None) -> Config:
    """Load and validate a config file (or the embedded default when both are None).

    Raises:
        ConfigError: listing every problem with its YAML path and position.
    """
    if text is None and path is None:
        return load_embedded()
    if text is None:
        source = str(path)
        try:
            text = Path(source).read_text()
        except OSError as exc:
            raise ConfigError(
                source, [Problem("", f"cannot read config: {exc.strerror}")]
            ) from None
    else:
        source = str(path) if path else "<text>"
    return _validate(source, text)


def _shield(text: str) -> tuple[str, dict[str, str]]:
    """Swap each ``${env:...}`` for a plain word, so a reference parses anywhere a value can
    stand, flow mappings included (``{token: ${env:T}}``: there ``{`` would end the value).

    Returns the text to parse and the references by their stand-in.
    """
    stem = "otelperfenvref"
    while stem in text:
        stem += "x"
    refs: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        stand_in = f"{stem}{len(refs)}z"
        refs[stand_in] = match.group(0)
        return stand_in

    return _ENV.sub(swap, text), refs


def _unshield(value: str, refs: Mapping[str, str]) -> str:
    for stand_in, ref in refs.items():
        if stand_in in value:
            value = value.replace(stand_in, ref)
    return value


def _validate(source: str, text: str) -> Config:
    text, refs = _shield(text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(source, [Problem("", "invalid YAML: nested too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [Problem("", f"invalid YAML: {problem}", line, column)]) from None
    positions: dict[str, tuple[int, int]] = {}
    problems: list[Problem] = []
    try:
        data = _construct(node, "", positions, problems, refs) if node is not None else {}
    except _Unbounded as exc:
        line, column = positions.get(exc.path, (None, None))
        raise ConfigError(source, [Problem(exc.path, str(exc), line, column)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem("", "the config must be a mapping of sections"))
        raise ConfigError(source, problems)
    checker = _Checker(positions, problems)
    config = checker.check(source, data)
    if problems:
        raise ConfigError(source, sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
    assert config is not None  # no problems means every section parsed
    return config


class _Unbounded(Exception):
    """The YAML expands past MAX_NODES values or MAX_DEPTH levels."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _construct(
    node: yaml.Node,
    path: str,
    positions: dict[str, tuple[int, int]],
    problems: list[Problem],
    refs: Mapping[str, str],
    depth: int = 0,
) -> Any:
    """Build plain data from YAML nodes, recording each path's position."""
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if depth > MAX_DEPTH:
        raise _Unbounded(path, f"nested deeper than {MAX_DEPTH} levels (an alias to itself?)")
    if len(positions) > MAX_NODES:
        raise _Unbounded(path, f"more than {MAX_NODES} values (aliases expanding?)")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _unshield(str(key_node.value), refs)
            child = f"{path}.{key}" if path else key
            if key in out:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                problems.append(Problem(child, "key appears twice", line, col))
            out[key] = _construct(value_node, child, positions, problems, refs, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, f"{path}[{i}]", positions, problems, refs, depth + 1)
            for i, item in enumerate(node.value)
        ]
    try:
        value = yaml.SafeLoader(" ").construct_object(node)
    except yaml.YAMLError as exc:  # an unknown tag (``!!python/none``): found by fuzzing
        line, column = positions[path]
        problems.append(
            Problem(path, f"invalid value: {getattr(exc, 'problem', exc)}", line, column)
        )
        return None
    if isinstance(value, str) and refs:
        value = _unshield(value, refs)
    if isinstance(value, str) and "${" in value:
        return _substitute(value, path, positions, problems)
    return value


def _substitute(
    value: str, path: str, positions: dict[str, tuple[int, int]], problems: list[Problem]
) -> Any:
    """``${env:NAME}`` / ``${env:NAME:-default}``; a value that is only a reference is
    re-read as YAML so ``${env:PORT}`` can be a number."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    result = _ENV.sub(replace, value)
    for name in missing:
        line, col = positions.get(path, (None, None))
        problems.append(
            Problem(
                path,
                f"environment variable {name} is not set (use ${{env:{name}:-default}})",
                line,
                col,
            )
        )
    if _ENV.fullmatch(value) and result:
        try:
            return yaml.safe_load(result)
        except yaml.YAMLError:
            return result
    return result


class _Checker:
    """Validates the tree section by section, appending problems with positions."""

    def __init__(self, positions: dict[str, tuple[int, int]], problems: list[Problem]) -> None:
        self.positions = positions
        self.problems = problems

    def add(self, path: str, message: str) -> None:
        line, col = self._position(path)
        self.problems.append(Problem(path, message, line, col))

    def _position(self, path: str) -> tuple[int | None, int | None]:
        probe = path
        while probe not in self.positions and probe:
            probe = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", probe)
        line, col = self.positions.get(probe, (None, None))
        return line, col

    def check(self, source: str, data: dict[str, Any]) -> Config | None:
        # each section is checked on its own so one mistake does not hide the rest
        for key in data:
            if key not in RawConfig.model_fields:
                self.add(
                    key, f"unknown section (expected one of: {', '.join(RawConfig.model_fields)})"
                )
        sections = {
            "receivers": self._components("receivers", data, dict(RECEIVER_TYPES)),
            "processors": self._components(
                "processors", data, {t: f.config_model for t, f in processor_types().items()}
            ),
            "exporters": self._components(
                "exporters", data, {t: f.config_model for t, f in exporter_types().items()}
            ),
            "extensions": self._components("extensions", data, dict(EXTENSION_TYPES)),
        }
        service = self._model(ServiceSettings, data.get("service") or {}, "service")
        self._wiring(data)
        if service is None:
            return None
        return Config(source=source, service=service, raw=data, **sections)

    def _components(
        self, section: str, data: dict[str, Any], types: Mapping[str, type[ComponentConfig]]
    ) -> dict[str, ComponentConfig]:
        out: dict[str, ComponentConfig] = {}
        body_of = data.get(section) or {}
        if not isinstance(body_of, dict):
            self.add(section, f"expected a mapping of component ids, got {body_of!r}")
            return out
        for cid, body in body_of.items():
            kind = component_type(cid)
            if kind not in types:
                known = ", ".join(sorted(types)) or "none"
                self.add(
                    f"{section}.{cid}", f'unknown {section[:-1]} type "{kind}" (known: {known})'
                )
                continue
            parsed = self._model(types[kind], body or {}, f"{section}.{cid}")
            if parsed is not None:
                out[cid] = parsed
        return out

    def _model(self, model: type[BaseModel], body: Any, path: str) -> Any:
        try:
            return model.model_validate(body, context={FROM_YAML: True})
        except ValidationError as exc:
            for error in exc.errors():
                loc = _join(path, error["loc"])
                self.add(loc, _message(model, error))
            return None

    def _wiring(self, data: dict[str, Any]) -> None:
        """References from service to declared ids, read from the raw tree so they are
        checked even when another service setting is wrong."""
        declared = {name: _ids(data.get(name)) for name in RawConfig.model_fields}
        service = data.get("service") if isinstance(data.get("service"), dict) else {}
        assert isinstance(service, dict)
        self._references("service.extensions", service.get("extensions"), declared["extensions"])
        pipelines = service.get("pipelines")
        for name, pipeline in (pipelines if isinstance(pipelines, dict) else {}).items():
            if not isinstance(pipeline, dict):
                continue
            for kind in ("receivers", "processors", "exporters"):
                where = f"service.pipelines.{name}.{kind}"
                self._references(where, pipeline.get(kind), declared[kind])
            self._signals(name, pipeline.get("receivers"))

    def _references(self, where: str, ids: Any, declared: set[str]) -> None:
        if not isinstance(ids, list):
            return  # the model reports the wrong type
        kind = where.rsplit(".", 1)[1]
        for i, cid in enumerate(ids):
            if cid not in declared:
                choices = ", ".join(sorted(declared)) or "none declared"
                self.add(f"{where}[{i}]", f'"{cid}" is not declared under {kind} ({choices})')

    def _signals(self, pipeline: str, ids: Any) -> None:
        """A receiver may feed only pipelines of a signal it produces."""
        signal, every = str(pipeline).split("/", 1)[0], RECEIVER_SIGNALS["otlp"]
        if signal not in every:
            return  # the service model reports a bad pipeline name
        for i, cid in enumerate(ids if isinstance(ids, list) else []):
            if signal not in RECEIVER_SIGNALS.get(component_type(str(cid)), every):
                produces = RECEIVER_SIGNALS[component_type(str(cid))]
                self.add(
                    f"service.pipelines.{pipeline}.receivers[{i}]",
                    f'receiver "{cid}" produces only {", ".join(sorted(produces))}; '
                    f'it cannot feed the {signal} pipeline "{pipeline}"',
                )


def _ids(section: Any) -> set[str]:
    return set(section) if isinstance(section, dict) else set()


def _join(path: str, loc: tuple[int | str, ...]) -> str:
    out = path
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before", "function-plain"):
            continue
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _message(model: type[BaseModel], error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"][:-1])
        return "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind not in ("value_error",) and "input" in error and not isinstance(error["input"], dict):
        message += f", got {error['input']!r}"
    return message


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            current = _inner_model(current)
            if isinstance(part, int):
                continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _inner_model(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``X | None``, ``list[X]`` or ``dict[str, X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None
