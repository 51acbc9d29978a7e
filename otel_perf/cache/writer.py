"""What the Cache's mixins (loading, warm-up) call back on the Cache, declared once.

:class:`~otel_perf.cache.Cache` implements these; the mixins inherit the declarations so
mypy checks their calls. At run time the class is empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any


class CacheWrites:
    """Declarations of the Cache operations its mixins use."""

    name: str

    if TYPE_CHECKING:

        async def _get(self, key: str) -> Any: ...

        async def set(
            self,
            key: str,
            value: Any,
            *,
            ttl: float | None = None,
            tags: Iterable[str] = (),
            load_ms: float | None = None,
        ) -> None: ...

        def _span(self, name: str, key: str | None = None) -> Any: ...

        def _ttl(self, key: str, ttl: float | None) -> float: ...
