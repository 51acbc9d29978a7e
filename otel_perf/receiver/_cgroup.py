"""cgroup v1 and v2 files of the sidecar's own cgroup: CPU usage and quota, memory and limit.

Pure parsers for each file the kernel writes, and :class:`CgroupReader`, which finds the
process's cgroup (``/proc/self/cgroup``) under a root (``/sys/fs/cgroup`` by default; tests
point it at a tree of their own) and reads one :class:`CgroupStats`. Used by the
``hostmetrics`` receiver to report a container against its limits, not the node's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")


class CgroupError(ValueError):
    """A cgroup file held something other than what the kernel writes there."""


# -- cgroup files: pure parsers ------------------------------------------------------------
def parse_membership(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` -> {controller: path}; the v2 hierarchy is under ``""``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            out[controller] = parts[2]
    return out


def _int(text: str, where: str = "value") -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CgroupError(f"{where}: expected an integer, got {text.strip()!r}") from None


def parse_cpu_max(text: str, where: str = "cpu.max") -> float | None:
    """cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) -> quota cores."""
    fields = text.split()
    if len(fields) != 2:
        raise CgroupError(f'{where}: expected "<quota|max> <period>", got {text.strip()!r}')
    if fields[0] == "max":
        return None
    return _int(fields[0], where) / _int(fields[1], where)


def parse_cfs(quota_us: int, period_us: int) -> float | None:
    """cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` -> quota cores (-1: none)."""
    return None if quota_us < 0 or period_us <= 0 else quota_us / period_us


def parse_cpu_stat_usage_ns(text: str, where: str = "cpu.stat") -> int:
    """cgroup v2 ``cpu.stat`` -> ``usage_usec`` in nanoseconds."""
    stats = parse_flat_keyed(text, where)
    if "usage_usec" not in stats:
        raise CgroupError(f"{where}: no usage_usec line")
    return stats["usage_usec"] * 1000


def parse_flat_keyed(text: str, where: str) -> dict[str, int]:
    """``key value`` lines (``cpu.stat``, ``memory.stat``) -> {key: value}."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise CgroupError(f'{where}:{number}: expected "key value", got {line.strip()!r}')
        out[fields[0]] = _int(fields[1], f"{where}:{number}")
    return out


def parse_memory_limit(text: str, host_total_bytes: int, where: str) -> int | None:
    """``memory.max`` / ``memory.limit_in_bytes`` -> bytes, or None when unlimited.

    v1 writes "unlimited" as a huge page-aligned number, so anything at or above the host's
    memory is no limit either.
    """
    if text.strip() == "max":
        return None
    limit = _int(text, where)
    return None if limit >= host_total_bytes else limit


# -- cgroup reader ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CgroupStats:
    """One read of the sidecar's cgroup. ``None`` where a file is absent (e.g. v2 root)."""

    version: int
    cpu_usage_ns: int | None
    cpu_limit_cores: float | None
    memory_usage_bytes: int | None
    memory_inactive_file_bytes: int
    memory_limit_bytes: int | None

    @property
    def limited(self) -> bool:
        """True when a CPU quota or a memory limit applies: report against the container."""
        return self.cpu_limit_cores is not None or self.memory_limit_bytes is not None


class CgroupReader:
    """Reads the cgroup the process belongs to under ``root`` (v2, or v1 per controller).

    Args:
        root: the cgroup mount (``/sys/fs/cgroup``).
        proc_self: where ``cgroup`` and ``mountinfo`` of this process are read.
        host_memory_bytes: the node's memory; v1 limits at or above it mean "none".
    """

    def __init__(
        self, root: str | Path, proc_self: str | Path = "/proc/self", host_memory_bytes: int = 0
    ) -> None:
        self.root = Path(root)
        self.proc_self = Path(proc_self)
        self.host_memory_bytes = host_memory_bytes or psutil.virtual_memory().total
        self.membership = parse_membership(_read(self.proc_self / "cgroup") or "")
        self.version = self._detect()

    def _detect(self) -> int | None:
        if (self.root / "cgroup.controllers").exists():
            return 2
        if any((self.root / c).is_dir() for c in ("cpuacct", "memory", "cpu,cpuacct")):
            return 1
        return None

    def _dir(self, controller: str) -> Path | None:
        """The process's own directory of ``controller`` (``""``: v2), else the mount."""
        names = [controller]
        if controller in ("cpu", "cpuacct"):  # often mounted together
            names += ["cpu,cpuacct", "cpuacct,cpu"]
        base = next((self.root / n for n in names if (self.root / n).is_dir()), None)
        if base is None:
            return None
        own = base / self.membership.get(controller, "/").lstrip("/")
        return own if own.is_dir() else base

    def read(self) -> CgroupStats | None:
        """The current figures, or None when no cgroup hierarchy is mounted at ``root``.

        Raises:
            CgroupError: a file exists but holds something unexpected.
        """
        if self.version == 2:
            return self._read_v2()
        if self.version == 1:
            return self._read_v1()
        return None

    def _read_v2(self) -> CgroupStats:
        d = self._dir("") or self.root
        memory_stat = _parsed(d / "memory.stat", parse_flat_keyed) or {}
        return CgroupStats(
            version=2,
            cpu_usage_ns=_parsed(d / "cpu.stat", parse_cpu_stat_usage_ns),
            cpu_limit_cores=_parsed(d / "cpu.max", parse_cpu_max),
            memory_usage_bytes=_parsed(d / "memory.current", _int),
            memory_inactive_file_bytes=memory_stat.get("inactive_file", 0),
            memory_limit_bytes=_parsed(d / "memory.max", self._limit),
        )

    def _read_v1(self) -> CgroupStats:
        cpu, acct, mem = self._dir("cpu"), self._dir("cpuacct"), self._dir("memory")
        quota = _parsed(cpu and cpu / "cpu.cfs_quota_us", _int)
        period = _parsed(cpu and cpu / "cpu.cfs_period_us", _int)
        memory_stat = _parsed(mem and mem / "memory.stat", parse_flat_keyed) or {}
        return CgroupStats(
            version=1,
            cpu_usage_ns=_parsed(acct and acct / "cpuacct.usage", _int),
            cpu_limit_cores=None if quota is None or period is None else parse_cfs(quota, period),
            memory_usage_bytes=_parsed(mem and mem / "memory.usage_in_bytes", _int),
            memory_inactive_file_bytes=memory_stat.get("total_inactive_file", 0),
            memory_limit_bytes=_parsed(mem and mem / "memory.limit_in_bytes", self._limit),
        )

    def _limit(self, text: str, where: str) -> int | None:
        return parse_memory_limit(text, self.host_memory_bytes, where)

    def container_id(self) -> str | None:
        """A 64-hex container id from ``/proc/self/cgroup`` or ``mountinfo``, if any."""
        for text in ("\n".join(self.membership.values()), _read(self.proc_self / "mountinfo")):
            match = _CONTAINER_ID.search(text or "")
            if match:
                return match.group(1)
        return None


def _parsed(path: Path | None, parse: Callable[[str, str], T]) -> T | None:
    """``parse(text, path)`` of the file at ``path``; None when there is no such file."""
    text = None if path is None else _read(path)
    return None if text is None else parse(text, str(path))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


# -- the receiver ----------------------------------------------------------------------------
