#!/usr/bin/env bash
# Regenerates go.mod for the control-plane build module from upstream's own go.mod.
#
# k8s.io/kubernetes requires each of its staging modules (k8s.io/api, k8s.io/apiserver, ...) at
# the placeholder version v0.0.0 and maps them onto ./staging with replace directives that only
# apply inside its own repository. A module that imports k8s.io/kubernetes must therefore pin
# every staging module itself. This script reads the staging list from the exact upstream
# go.mod, so that a version bump never relies on a hand-copied list.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=versions.env
source versions.env

minor="v0.${KUBERNETES_VERSION#v1.}"
upstream_mod=$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$upstream_mod" ] || { echo "gen-gomod: no go.mod for k8s.io/kubernetes" >&2; exit 1; }

cat > go.mod <<MOD
module objectcache-operator/test/cluster

go 1.26.0
MOD

go mod edit -require "k8s.io/kubernetes@${KUBERNETES_VERSION}"
go mod edit -require "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"

staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$upstream_mod")
for module in $staging; do
  go mod edit -replace "${module}=${module}@${minor}"
done

# Staging modules that no command here imports may not be served at all; tidy tells which.
if ! go mod tidy 2>tidy.err; then
  unserved=$(sed -n 's#.*\(k8s.io/[a-z0-9-]*\)@v0[^:]*: .*#\1#p' tidy.err | sort -u)
  [ -n "$unserved" ] || { cat tidy.err >&2; rm -f tidy.err; exit 1; }
  for module in $unserved; do
    echo "gen-gomod: dropping replace for unserved module $module" >&2
    go mod edit -dropreplace "$module"
  done
  go mod tidy
fi
rm -f tidy.err
echo "gen-gomod: go.mod pins $(grep -c '=> k8s.io' go.mod) staging modules at ${minor}"
