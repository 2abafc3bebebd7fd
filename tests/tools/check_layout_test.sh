#!/usr/bin/env bash
# tools/check-layout passes on the tree, and fails on a copy of it where
# control/ includes cluster/ (an edge its README does not allow) and a
# public header includes a private one, naming both.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
"$root/tools/check-layout" "$root"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp -r "$root/libactorserve" "$copy/"
echo '#include "cluster/node_agent.hpp"' >> "$copy/libactorserve/src/control/controller.cpp"
echo '#include "calls/routing.hpp"' >> "$copy/libactorserve/include/actorserve/handle.hpp"
if out="$("$root/tools/check-layout" "$copy" 2>&1)"; then
  echo "check-layout passed a forbidden edge" >&2
  exit 1
fi
grep -q 'control/ may not include cluster/' <<<"$out"
grep -q 'handle.hpp: #include "calls/routing.hpp"' <<<"$out"
echo "ok: $(grep -c '^  ' <<<"$out") errors named"
