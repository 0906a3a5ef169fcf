#!/usr/bin/env sh
# Runs the as-pect kernel specs under Node 20 (plain SIMD) from a scratch folder, so that npm's
# node_modules never mixes with Deno's node_modules in the repository.
#   sh assembly/__tests__/run.sh            (needs node + npm, and the npm registry once)
# Set ASPECT_NODE_MODULES to a folder that already holds @as-pect/cli@8.1.0 and
# assemblyscript@0.27.37 to skip the install.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${ASPECT_WORK:-$(mktemp -d)}
if [ -n "${ASPECT_NODE_MODULES:-}" ]; then
  ln -sfn "$ASPECT_NODE_MODULES" "$work/node_modules"
else
  (cd "$work" && npm init -y >/dev/null && npm i --no-audit --no-fund --silent \
    @as-pect/cli@8.1.0 assemblyscript@0.27.37)
fi
ln -sfn "$repo/assembly" "$work/assembly"
cp "$repo/as-pect.config.cjs" "$work/as-pect.config.cjs"
cd "$work"
exec node node_modules/@as-pect/cli/bin/asp.js --config as-pect.config.cjs \
  --as-config assembly/__tests__/as-pect.asconfig.json
