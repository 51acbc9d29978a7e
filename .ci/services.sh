#!/usr/bin/env bash
# Provision the system services the tests need, from Debian's packages.
# The foundation needs none; each later issue adds its own (install + start)
# here so `make test` stays the only command.
set -euo pipefail
echo "services: none needed yet"
