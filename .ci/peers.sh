#!/usr/bin/env bash
# Builds the real peers of the live tests from their Go modules, and caches them by version:
#   Jaeger v2       Go module github.com/jaegertracing/jaeger, program cmd/jaeger
#   the Collector   the components collector-config/ uses, from collector-config/builder-config.yaml
#                   with the Collector builder (ocb) of the same release
# Each binary lands in .ci/.peers/<name>-<key>/ (gitignored), where <key> is the version (and, for
# the Collector, a hash of the manifest), so a rebuild happens only when that changes or the binary
# is missing. .ci/.peers/jaeger and .ci/.peers/otelcol link to the current builds: the tests
# (tests/support/peers.py) run those. A cold build takes several minutes; a warm Go cache, seconds.
# Usage: .ci/peers.sh [jaeger|otelcol]...   (both when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.ci/.peers"
mkdir -p "$root"
echo "*" > "$root/.gitignore"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# The module proxy here serves v1.75.0 (Jaeger v2.12.0) as the newest approved release of the
# module; v1.76.0 (Jaeger v2.13.0) is served but not an approved release.
JAEGER_MODULE_VERSION="${OTEL_SCORING_JAEGER_MODULE_VERSION:-v1.75.0}"
manifest=collector-config/builder-config.yaml

link() {  # link NAME TARGET: point .ci/.peers/NAME at TARGET
    ln -sfn "$2" "$root/$1"
    echo "$1: $2"
}

build_jaeger() {
    local dir="$root/jaeger-$JAEGER_MODULE_VERSION"
    if [ ! -x "$dir/jaeger" ]; then
        # Jaeger's go.mod has a replace directive, so `go install pkg@version` refuses it: build it
        # as a tool of a throwaway module instead.
        rm -rf "$dir/src" && mkdir -p "$dir/src"
        (cd "$dir/src" \
            && go mod init otel-scoring-peers/jaeger >/dev/null 2>&1 \
            && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_MODULE_VERSION" \
            && go build -o "$dir/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
        mv "$dir/jaeger.tmp" "$dir/jaeger"
        rm -rf "$dir/src"
    fi
    link jaeger "$dir/jaeger"
}

build_otelcol() {
    # The builder's release is the release of the core components the manifest names.
    local release key dir
    release="$(sed -n 's#.*go.opentelemetry.io/collector/receiver/otlpreceiver \(v[0-9.]*\).*#\1#p' "$manifest")"
    key="$release-$(sha256sum "$manifest" | cut -c1-12)"
    dir="$root/otelcol-$key"
    if [ ! -x "$dir/otelcol-scoring" ]; then
        rm -rf "$dir" && mkdir -p "$dir/bin"
        GOBIN="$dir/bin" go install "go.opentelemetry.io/collector/cmd/builder@$release"
        # The manifest builds into ./otelcol-scoring (for a user); here, into the cache folder.
        sed "s#^\(  output_path:\).*#\1 $dir/src#" "$manifest" > "$dir/builder-config.yaml"
        "$dir/bin/builder" --config "$dir/builder-config.yaml"
        mv "$dir/src/otelcol-scoring" "$dir/otelcol-scoring"
        rm -rf "$dir/src" "$dir/bin"
    fi
    link otelcol "$dir/otelcol-scoring"
}

for peer in "${@:-jaeger otelcol}"; do
    for name in $peer; do "build_$name"; done
done
