#!/usr/bin/env bash
# Provision the system services the tests need, from Debian's packages.
# The foundation needs none; each later issue adds its own (install + start)
# here so `make test` stays the only command.
set -euo pipefail
echo "services: none needed yet"

# Prometheus (issue #9): the tests start their own prometheus on loopback and run
# `promtool check rules`; only the binaries are needed, the system service is not started.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d exit 101: the package must not start its service during the install
    prom_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        prom_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$prom_policy" && chmod +x "$prom_policy"
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus
    if [ -n "$prom_policy" ]; then rm -f "$prom_policy"; fi
fi
echo "services: prometheus $(prometheus --version 2>&1 | head -1)"

# Alertmanager (issue #9): the tests start their own on loopback (clustering off);
# only the binary is needed, the system service is not started.
if ! command -v prometheus-alertmanager >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    am_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        am_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$am_policy" && chmod +x "$am_policy"
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus-alertmanager
    if [ -n "$am_policy" ]; then rm -f "$am_policy"; fi
fi
echo "services: alertmanager $(prometheus-alertmanager --version 2>&1 | head -1)"

# Redis (issue #8): the cache tests and benchmarks.cache_ops start their own redis-server
# on a free loopback port; only the binary is needed, the system service is not started.
if ! command -v redis-server >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    redis_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        redis_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$redis_policy" && chmod +x "$redis_policy"
    fi
    apt-get update -qq
    apt-get install -y -qq redis-server
    if [ -n "$redis_policy" ]; then rm -f "$redis_policy"; fi
fi
echo "services: $(redis-server --version)"

# Chromium (issue #9, dashboard): tests/test_e2e_dashboard.py drives Debian's chromium through
# Playwright's Python package (its bundled driver; no browser download). Install only when missing.
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
echo "services: $(/usr/bin/chromium --version 2>&1 | tail -1)"
