#!/usr/bin/env bash
# Refresh the committed dashboard images (docs/dashboard.png, docs/dashboard-risk-lab.png).
# The dashboard tests take the screenshots; by default they write them to a temporary directory,
# and BACKSTOP_SCREENSHOTS points them at docs/ instead. Fails if an image was not rewritten
# (e.g. the browser tests skipped because chromium is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT
BACKSTOP_SCREENSHOTS="$PWD/docs" "$PY" -m pytest -q -p no:cacheprovider tests/service/test_dashboard.py \
  -k "test_dashboard_shows_the_waterfall_and_the_claim or test_dashboard_runs_a_simulation_and_shows_its_plots"
for image in docs/dashboard.png docs/dashboard-risk-lab.png; do
  if [ ! "$image" -nt "$stamp" ]; then
    echo "screenshots: $image was not refreshed (is chromium installed? run make services)" >&2
    exit 1
  fi
  echo "screenshots: refreshed $image"
done
