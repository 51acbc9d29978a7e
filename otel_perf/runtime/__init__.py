"""The process's plumbing, under the engine: threads named for the operating system
(``threadnames``), an ASGI app served by uvicorn on a thread (``serving``, for OTLP/HTTP and
the API) and the memory habits of a long-running process (``memory``).

Nothing here imports the rest of ``otel_perf``; the receivers, the pipeline and the sidecar
import it.
"""
