#!/usr/bin/env bash
# Installs what the operator page's browser tests (ops and e2e,
# TestPageInChromium*) drive: Debian's chromium. In CI (CI=true) those
# tests fail without it; elsewhere they skip.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
