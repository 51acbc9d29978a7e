"""Every snippet in the docs works as written.

The documents checked are README.md, everything under docs/ and every component's README
(processors, exporters, the app side, benchmarks, deploy). In each fenced block:

- ``yaml``: every document parses; a mapping whose keys are otel-perf config sections
  (receivers, processors, exporters, extensions, service) is an otel-perf config and
  validates against the config model, pasted over the embedded default as a user would
  (``${env:NAME}`` references without a default get a value for the check);
- ``sh`` / ``bash`` / ``shell`` / ``console`` (``$ `` lines): every ``otel-perf ...``
  command names an existing subcommand and only that subcommand's options, and a concrete
  one (no ``[optional]`` or ``(a | b)`` synopsis marks) parses with the real argparse parser;
  every ``make`` target exists in the Makefile;
- ``python``: compiles (top-level ``await`` allowed, as in an async REPL);
- ``json``: parses.

Inline code that starts with ``otel-perf `` or ``make `` is checked the same way. Every block
names its language (``text`` for output). A block that is deliberately not runnable as
shown (an excerpt with placeholders, another program's config) is preceded by the line
``<!-- snippet: fragment -->``: then only its syntax is checked (docs/README.md says so).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from otel_perf.cli import commands as cli
from otel_perf.config import ConfigError, default_config_text, load_config

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT = "<!-- snippet: fragment -->"
SECTIONS = ("receivers", "processors", "exporters", "extensions", "service")
SHELLS = {"sh", "bash", "shell", "console"}
#: folders whose README.md files are component manuals
COMPONENT_DIRS = ("processors", "exporters", "otel_perf", "benchmarks", "deploy", "examples")
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"|", "||", "&&", ";", "&"}
_REDIRECTS = {">", ">>", "<", "2>", "2>&1", "&>"}


def documents() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in COMPONENT_DIRS:
        found += sorted((ROOT / folder).rglob("README.md"))
    return [p for p in found if p.is_file()]


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    lang: str
    text: str
    fragment: bool
    inline: bool = False

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _fragment_marked(lines: list[str], fence_line: int) -> bool:
    """Whether the nearest non-blank line above the fence is the fragment marker."""
    for line in reversed(lines[:fence_line]):
        if line.strip():
            return line.strip() == FRAGMENT
    return False


def _inline(path: Path, token: Token) -> Iterator[Snippet]:
    line = token.map[0] + 1 if token.map else 0
    for child in token.children or []:
        if child.type != "code_inline":
            continue
        code = child.content.strip()
        if code.startswith(("otel-perf ", "make ")):
            yield Snippet(path, line, "sh", code, fragment=False, inline=True)


def snippets(path: Path) -> Iterator[Snippet]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "inline":
            yield from _inline(path, token)
        if token.type not in ("fence", "code_block") or not token.map:
            continue
        lang = token.info.strip().split(" ", 1)[0].lower() if token.type == "fence" else ""
        fragment = _fragment_marked(lines, token.map[0])
        yield Snippet(path, token.map[0] + 1, lang, token.content, fragment)


def example_snippets(path: Path) -> Iterator[Snippet]:
    """The literal blocks (after ``::``) of an example's module docstring: YAML when it
    starts with a config section, else shell."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    lines = docstring.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        block: list[str] = []
        for body in lines[i + 1 :]:
            if body.strip() and not body.startswith("    "):
                break
            block.append(body[4:])
        text = "\n".join(block).strip("\n") + "\n"
        lang = "yaml" if re.match(rf"({'|'.join(SECTIONS)}):", text) else "sh"
        yield Snippet(path, i + 2, lang, text, fragment=False)


ALL = [s for doc in documents() for s in snippets(doc)]
ALL += [s for p in sorted((ROOT / "examples").glob("*.py")) for s in example_snippets(p)]
BLOCKS = [s for s in ALL if not s.inline]


def _of(*langs: str) -> list[Any]:
    return [pytest.param(s, id=s.where) for s in ALL if s.lang in langs]


# -- every block says what it is -----------------------------------------------------------


def test_the_documents_are_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in documents()}
    assert {"README.md", "docs/README.md", "processors/slo/README.md"} <= names
    assert len(BLOCKS) > 50
    examples = {(s.path.name, s.lang) for s in ALL if s.path.suffix == ".py"}
    assert {("asgi_app.py", "sh"), ("cache_app.py", "sh"), ("cache_app.py", "yaml")} <= examples


def test_every_fenced_block_names_its_language() -> None:
    bare = [s.where for s in BLOCKS if not s.lang]
    assert not bare, f"fenced blocks without a language (use `text` for output): {bare}"


# -- YAML ----------------------------------------------------------------------------------


def _is_config(data: Any) -> bool:
    return isinstance(data, dict) and bool(data) and set(data) <= set(SECTIONS)


def overlay(snippet: dict[str, Any]) -> dict[str, Any]:
    """The embedded default with the snippet pasted over it: components by id, the
    service's settings by key and its pipelines by name."""
    base: dict[str, Any] = yaml.safe_load(default_config_text())
    for section in SECTIONS[:4]:
        base[section] = {**(base.get(section) or {}), **(snippet.get(section) or {})}
    service = dict(snippet.get("service") or {})
    pipelines = {**base["service"].get("pipelines", {}), **service.pop("pipelines", {})}
    base["service"] = {**base["service"], **service, "pipelines": pipelines}
    return base


@pytest.mark.parametrize("snippet", _of("yaml", "yml"))
def test_yaml_parses_and_configs_validate(
    snippet: Snippet, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        docs = list(yaml.safe_load_all(snippet.text))
    except yaml.YAMLError as exc:
        pytest.fail(f"{snippet.where}: YAML does not parse: {exc}")
    if snippet.fragment or len(docs) != 1 or not _is_config(docs[0]):
        return
    for name in _ENV_REF.findall(snippet.text):
        monkeypatch.setenv(name, "set-for-the-docs-check")
    monkeypatch.chdir(ROOT)  # files a config names are relative to the repository root
    try:
        load_config(text=yaml.safe_dump(overlay(docs[0]), sort_keys=False))
    except ConfigError as exc:
        pytest.fail(f"{snippet.where}: the config does not validate:\n{exc}")


def test_the_overlay_still_rejects_a_wrong_setting() -> None:
    wrong = overlay({"processors": {"slo": {"objectives": [{"name": "x", "target": 2}]}}})
    with pytest.raises(ConfigError, match="processors.slo.objectives"):
        load_config(text=yaml.safe_dump(wrong))


# -- shell ---------------------------------------------------------------------------------


def command_lines(snippet: Snippet) -> list[str]:
    """The command lines of a shell block: continuations joined; in a console block only
    the ``$ `` lines (the rest is output)."""
    out: list[str] = []
    pending = ""
    for raw in snippet.text.splitlines():
        line = raw.rstrip()
        if not pending and snippet.lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return [line for line in out if line.strip()]


def commands(line: str) -> list[list[str]]:
    """The simple commands of one line (split at pipes and lists, outside ``[..]`` /
    ``(..)`` synopsis marks), without redirections and leading ``NAME=value``."""
    out: list[list[str]] = [[]]
    depth = 0
    tokens = iter(shlex.split(line, comments=True))
    for token in tokens:
        if depth == 0 and token in _SEPARATORS:
            out.append([])
            continue
        if token in _REDIRECTS:
            next(tokens, None)
            continue
        if token.startswith((">", "2>")):
            continue
        depth += token.count("[") + token.count("(") - token.count("]") - token.count(")")
        out[-1].append(token)
    for command in out:
        while command and _ASSIGNMENT.match(command[0]):
            command.pop(0)
    return [c for c in out if c]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _placeholder(token: str) -> bool:
    """``COMMAND``, ``<command>``: a synopsis word standing for a real one."""
    return bool(re.fullmatch(r"[A-Z][A-Z_]*|<[^>]+>", token))


def otel_perf_problems(args: list[str], synopsis: bool = False) -> list[str]:
    """What in ``otel-perf ARGS`` the real parser does not have (subcommands, options);
    unless ``synopsis``, or the line has ``[..]`` / ``(..)`` / ``|`` marks, it must parse."""
    parser, path, problems = cli._parser(), ["otel-perf"], []
    synopsis = synopsis or any(c in "".join(args) for c in "[]()") or "|" in args
    tokens = [t.strip("[]()") for t in args]
    tokens = [t for t in tokens if t and t not in ("|", "...", "…")]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("-") and not re.fullmatch(r"-[\d.]+", token):
            flag = token.split("=", 1)[0]
            action = parser._option_string_actions.get(flag)
            if action is None:
                options = sorted(o for o in parser._option_string_actions if o.startswith("--"))
                problems.append(f"`{' '.join(path)}` has no option {flag} (it has {options})")
            elif action.nargs != 0 and "=" not in token:
                i += 1  # the option's value
            continue
        choices = _subparsers(parser)
        if token in choices:
            parser = choices[token]
            path.append(token)
        elif len(path) == 1 and _placeholder(token):
            synopsis = True
            break  # a placeholder subcommand: nothing further to check against
        elif len(path) == 1:
            problems.append(f"otel-perf has no subcommand {token!r} (it has {sorted(choices)})")
            break
    if not problems and not synopsis:
        problems += _parse(args)
    return problems


def _parse(args: list[str]) -> list[str]:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            cli._parser().parse_args(args)
    except SystemExit as exc:
        if exc.code:
            return [f"argparse refuses it: {stderr.getvalue().strip().splitlines()[-1]}"]
    return []


def make_targets() -> set[str]:
    rule = re.compile(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?!=)")
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        match = rule.match(line)
        if match:
            targets |= set(match.group(1).split())
    return targets - {".PHONY"}


def shell_problems(snippet: Snippet) -> list[str]:
    lines = [snippet.text] if snippet.inline else command_lines(snippet)
    problems: list[str] = []
    for line in lines:
        for command in commands(line):
            program = command[0].rsplit("/", 1)[-1]
            if program == "otel-perf":
                found = otel_perf_problems(command[1:], synopsis=snippet.inline)
                problems += [f"{line!r}: {p}" for p in found]
            elif program == "make":
                named = [t.strip("[]") for t in command[1:] if "=" not in t]
                missing = [t for t in named if t and not t.startswith("-")]
                missing = [t for t in missing if t not in make_targets()]
                problems += [f"{line!r}: no make target {t!r}" for t in missing]
    return problems


@pytest.mark.parametrize("snippet", _of(*SHELLS))
def test_commands_exist(snippet: Snippet) -> None:
    if snippet.fragment:
        return
    problems = shell_problems(snippet)
    assert not problems, f"{snippet.where}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("otel-perf findings --kind slo_violation --service shop", ""),
        ("otel-perf capacity autoscaling web/cpu --format hpa | kubectl apply -f -", ""),
        ("otel-perf regression [--warmup N]", "has no option --warmup"),
        ("otel-perf findings --kinds slo", "has no option --kinds"),
        ("otel-perf finding", "has no subcommand 'finding'"),
        ("otel-perf trends", "argparse refuses it"),
        ("OTEL_PERF_API=http://x .venv/bin/otel-perf health -o yaml", "argparse refuses it"),
        ("make run ARGS='--config my.yaml' && make nosuch", "no make target 'nosuch'"),
        ("otel-perf COMMAND --help", ""),
        ("otel-perf capacity forecast RESOURCE [--horizon 7d] [--window 2d]", "no option --window"),
    ],
)
def test_the_command_check_catches_mistakes(line: str, expected: str) -> None:
    problems = shell_problems(Snippet(ROOT / "README.md", 1, "sh", line, False))
    assert (expected in "\n".join(problems)) if expected else not problems, problems


# -- Python and JSON -----------------------------------------------------------------------


@pytest.mark.parametrize("snippet", _of("python", "py"))
def test_python_compiles(snippet: Snippet) -> None:
    try:
        compile(snippet.text, snippet.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        pytest.fail(f"{snippet.where}: {exc}")


@pytest.mark.parametrize("snippet", _of("json"))
def test_json_parses(snippet: Snippet) -> None:
    try:
        json.loads(snippet.text)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{snippet.where}: {exc}")


# -- the CLI reference covers the CLI ------------------------------------------------------


def test_the_cli_reference_shows_every_subcommand() -> None:
    shown = " ".join(
        s.text for s in snippets(ROOT / "docs" / "cli.md") if s.lang in SHELLS or s.inline
    )
    missing: list[str] = []
    for name, parser in _subparsers(cli._parser()).items():
        missing += [] if f"otel-perf {name}" in shown else [name]
        for action in _subparsers(parser):
            missing += [] if f"otel-perf {name} {action}" in shown else [f"{name} {action}"]
    assert not missing, f"docs/cli.md shows no command line for: {missing}"


# -- the quick start -----------------------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 260
    assert "make run" in text and "make test" in text
    assert "opentelemetry-instrument" in text and ".venv" in text
    linked = set(re.findall(r"\]\((docs/[^)#]+)", text))
    assert {"docs/configuration.md", "docs/cli.md", "docs/api.md"} <= linked


def test_links_between_documents_resolve() -> None:
    broken: list[str] = []
    for doc in documents():
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            if not (doc.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken
