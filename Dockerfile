# syntax=docker/dockerfile:1
# otel-perf image: docker build -t otel-perf:0.1.0 .
# Multi-stage: the builder makes wheels (otel-perf, with its native decoder compiled by gcc,
# and its dependencies); the runtime stage installs them into a slim image with no compiler, runs as a numeric non-root user and
# starts `otel-perf run`. With no --config it runs the embedded default config
# (otel_perf/config/default.yaml, inside the wheel), which listens on loopback only; set
# OTEL_PERF_GRPC_ENDPOINT / OTEL_PERF_HTTP_ENDPOINT / OTEL_PERF_API_ENDPOINT (for example
# 0.0.0.0:4317) or pass --config to listen elsewhere.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# a C compiler for the native OTLP decoder (otel_perf/decode/_columnar.c) and the bottleneck
# analysis's tree work (processors/bottlenecks/_tree.c), builder stage only
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY otel_perf ./otel_perf
COPY processors ./processors
COPY exporters ./exporters
RUN pip wheel --wheel-dir /wheels '.[sidecar]' \
 && python -c "import glob, zipfile; (w,) = glob.glob('/wheels/otel_perf-*.whl'); assert 'otel_perf/config/default.yaml' in zipfile.ZipFile(w).namelist()"

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    OTEL_PERF_STORE=/var/lib/otel-perf/otel-perf.db
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'otel-perf[sidecar]' \
 && groupadd --system --gid 10001 otelperf \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin otelperf \
 && mkdir -p /var/lib/otel-perf \
 && chown 10001:10001 /var/lib/otel-perf
WORKDIR /var/lib/otel-perf
USER 10001:10001
# OTLP gRPC, OTLP/HTTP, the API (/health, /performance/...)
EXPOSE 4317 4318 8080
# For plain `docker run`; Kubernetes ignores it and uses the manifests' probes on /health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["otel-perf", "run"]
CMD []
