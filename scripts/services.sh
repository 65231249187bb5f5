#!/usr/bin/env bash
# Start what the tests need, if it is installed but not running. Tests that need something
# absent skip with the reason; this script never fails the build because a service is missing.
set -u
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
else
  echo "services: PostgreSQL not installed; PostgreSQL tests will skip"
fi
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "services: installing Debian chromium for the dashboard tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "services: chromium install failed; browser tests will skip"
fi
exit 0
