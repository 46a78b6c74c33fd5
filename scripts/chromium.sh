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
    # Tests run in parallel: one installs while the others wait for it, then find it.
    exec 9>"${TMPDIR:-/tmp}/frontdesk-chromium.lock"
    flock 9
    if command -v chromium >/dev/null 2>&1; then
        command -v chromium
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt="apt-get -o DPkg::Lock::Timeout=300"
    $apt install -y --no-install-recommends chromium >/dev/null 2>&1 ||
        { $apt update >/dev/null 2>&1 && $apt install -y --no-install-recommends chromium >/dev/null 2>&1; } ||
        true
    command -v chromium && exit 0
fi
echo "no chromium: install Debian's chromium package (apt-get install chromium)" >&2
exit 1
