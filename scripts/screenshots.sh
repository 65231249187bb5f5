#!/usr/bin/env bash
# Refresh the committed dashboard images: each role's desk at 1280 px (docs/dashboard-ROLE.png)
# and at 390 px (docs/dashboard-ROLE-phone.png). The dashboard's browser tests take them; by
# default they write them to a temporary directory, and BACKSTOP_SCREENSHOTS points them at docs/
# instead. Fails if an image was not rewritten (e.g. the browser tests skipped: no chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT
BACKSTOP_SCREENSHOTS="$PWD/docs" "$PY" -m pytest -q -p no:cacheprovider \
  tests/service/test_dashboard.py tests/service/test_dashboard_risk.py
for role in staker investor guarantor assessor risk; do
  for image in "docs/dashboard-$role.png" "docs/dashboard-$role-phone.png"; do
    if [ ! "$image" -nt "$stamp" ]; then
      echo "screenshots: $image was not refreshed (is chromium installed? run make services)" >&2
      exit 1
    fi
    echo "screenshots: refreshed $image"
  done
done
