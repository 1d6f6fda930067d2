#!/usr/bin/env bash
# Headless screenshots of the built site, to look at: the index, one API page, one results page.
# Usage: bash docs/_tools/screenshots.sh [OUT_DIR]   (build the site first; needs Debian's chromium)
# Serves docs/_build/html on 127.0.0.1:8000 for the duration of the shots, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/_build/screenshots}"
mkdir -p "$out"
python -m http.server -d docs/_build/html --bind 127.0.0.1 8000 >/dev/null 2>&1 &
server=$!
trap 'kill "$server"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:8000/ && break; sleep 0.1; done
shot() {  # shot NAME PATH: one page at 1280 x 1600
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
        --screenshot="$out/$1.png" --window-size=1280,1600 "http://127.0.0.1:8000/$2" 2>/dev/null
    echo "$out/$1.png"
}
shot index index.html
shot api api/generated/augkit.Compose.html
shot results results/lecture/init_symmetry/init_symmetry.html
shot results_index results/index.html
shot guide guide/pipelines.html
shot api_namespace api/generated/augkit.tta.html
shot comparison comparison.html
shot layout layout.html
