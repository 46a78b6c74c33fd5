#!/usr/bin/env bash
# Prints the path of a headless Chromium for the report test, installing Debian's `chromium`
# package first when it is missing (as root, with apt). Exits 1 with a reason otherwise.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }
    command -v chromium && exit 0
fi
echo "no chromium: install Debian's chromium package (apt-get install chromium)" >&2
exit 1
