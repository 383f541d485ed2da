#!/usr/bin/env bash
# Install the Debian packages Eddy's tests and benchmarks use, only those that are missing:
#   redis-server (real Redis for the Redis legs), chromium (browser tests), prometheus (promtool and a real
#   Prometheus), wrk (HTTP load), nodejs (the dashboard's JavaScript unit tests), docker-compose (validates
#   docker-compose.yml; needs no engine).
#   Runs apt-get as root, or through sudo when available.
set -euo pipefail
want=()
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
if [ "${EDDY_SKIP_BROWSER:-0}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
fi
command -v promtool >/dev/null 2>&1 || want+=(prometheus)
command -v wrk >/dev/null 2>&1 || want+=(wrk)
command -v node >/dev/null 2>&1 || want+=(nodejs)
command -v docker-compose >/dev/null 2>&1 || want+=(docker-compose)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "system-deps: need root (or sudo) to install: ${want[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# Debian starts services it installs; Eddy's tests start their own servers on free ports.
for service in redis-server prometheus; do
  "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  "${SUDO[@]}" service "$service" stop >/dev/null 2>&1 || true
done
