#!/bin/sh
# Builds the optional native addon (OpenBLAS sgemm and depth-wise conv gradients on the wasm heap)
# into build/native/. -march=native: the binary is for the machine that builds it.
# Needs a C compiler, Node's headers (/usr/include/node) and libopenblas-dev. sslight runs
# without it: the wasm kernels fall back to XNNPACK when the addon is absent.
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="$root/build/native"
mkdir -p "$out"
node_inc=${NODE_INCLUDE:-$(node -p "require('path').resolve(process.execPath, '../../include/node')")}
[ -f "$node_inc/node_api.h" ] || node_inc=/usr/include/node
cc=${CC:-cc}
# Built beside and renamed into place: a process that has the old addon loaded keeps its copy.
$cc -O3 -march=native -shared -fPIC -Wall -DNODE_GYP_MODULE_NAME=sslight_native -I"$node_inc" \
  "$here/native_addon.c" "$here/winograd.c" -lopenblas -lm -o "$out/sslight_native.node.tmp"
mv -f "$out/sslight_native.node.tmp" "$out/sslight_native.node"
echo "built $out/sslight_native.node"
