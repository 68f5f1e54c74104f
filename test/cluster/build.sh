#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, etcd, kubectl) and the kubelet reference
# tools from Go modules, into a git-ignored folder keyed by the versions and by the hash of
# go.sum. Binaries already present are never rebuilt. Prints the folder on its last line.
#
#   test/cluster/build.sh            build what is missing
#   test/cluster/build.sh --print    print the folder only, build nothing
set -euo pipefail
cluster_dir="$(cd "$(dirname "$0")" && pwd)"
root_dir="$(cd "$cluster_dir/../.." && pwd)"
cd "$cluster_dir"
# shellcheck source=versions.env
source versions.env

# The folder is keyed by the versions and the module graph; each binary also records the hash
# of its own command's source, so changing one small tool rebuilds only that tool.
sum_hash=$(sha256sum go.sum go.mod | sha256sum | cut -c1-12)
bin_dir="${OBJECTCACHE_BIN_DIR:-$root_dir/.cache/control-plane/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}-${sum_hash}}"
if [ "${1:-}" = "--print" ]; then
  echo "$bin_dir"
  exit 0
fi

mkdir -p "$bin_dir"
k8s_minor="${KUBERNETES_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"
version_flags="-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}"
version_flags+=" -X k8s.io/component-base/version.gitMajor=1"
version_flags+=" -X k8s.io/component-base/version.gitMinor=${k8s_minor}"
version_flags+=" -X k8s.io/component-base/version.gitTreeState=clean"
version_flags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"
version_flags+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
version_flags+=" -X k8s.io/client-go/pkg/version.gitMinor=${k8s_minor}"

commands=$(cd cmd && ls -d -- */ | tr -d /)
for command in $commands; do
  target="$bin_dir/$command"
  source_hash=$(cat "cmd/$command"/*.go | sha256sum | cut -c1-12)
  if [ -x "$target" ] && [ "$(cat "$target.source" 2>/dev/null)" = "$source_hash" ]; then
    continue
  fi
  echo "build: $command (${KUBERNETES_VERSION}, etcd ${ETCD_VERSION}) -> $target" >&2
  started=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${version_flags}" \
    -o "$target.partial" "./cmd/$command"
  mv "$target.partial" "$target"
  echo "$source_hash" > "$target.source"
  echo "build: $command took $(( $(date +%s) - started )) s" >&2
done
echo "$bin_dir"
