#!/usr/bin/env bash
# Provision the programs the tests use, from Debian's packages. The tests start their own
# instances on free loopback ports (a config of their own, data in a temporary directory),
# so only the binaries are needed: the packages' system services are never started.
set -euo pipefail

missing=()
need() {  # need PACKAGE BINARY...: queue PACKAGE when one of its binaries is absent
    local package=$1
    shift
    for binary in "$@"; do
        if ! command -v "$binary" >/dev/null; then
            missing+=("$package")
            return
        fi
    done
}

need prometheus prometheus promtool            # issue #9: scrape test, promtool check rules
need prometheus-alertmanager prometheus-alertmanager  # issue #9: burn-rate alerts
need redis-server redis-server                 # issue #8: cache level 2, benchmarks.cache_ops
need chromium /usr/bin/chromium                # issue #9: the dashboard in headless Chromium
# readable text in the dashboard screenshot
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -gt 0 ]; then
    echo "services: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d exit 101: no package may start its service during the install
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    fi
    trap '[ -z "$policy" ] || rm -f "$policy"' EXIT
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "services: $(prometheus --version 2>&1 | head -1)"
echo "services: $(prometheus-alertmanager --version 2>&1 | head -1)"
echo "services: $(redis-server --version)"
echo "services: $(/usr/bin/chromium --version 2>&1 | tail -1)"
