#!/usr/bin/env bash
# Installs what the benchmark harness needs. Idempotent: every step is skipped when already done.
#   - Debian: docker-registry (CNCF distribution 2.8.2), wrk, apache2-utils (htpasswd, ab)
#   - distribution v3 built with the Go toolchain into <repo>/.cache/bin/registry
#   - zot (optional) built into <repo>/.cache/bin/zot, one attempt bounded by ZOT_BUILD_TIMEOUT
#     seconds; a failure is recorded in .cache/bin/zot.build-failed and never retried unless
#     that file is removed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO_ROOT/.cache/bin"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
DISTRIBUTION_V3_VERSION="${DISTRIBUTION_V3_VERSION:-v3.1.1}"
ZOT_VERSION="${ZOT_VERSION:-latest}"
ZOT_BUILD_TIMEOUT="${ZOT_BUILD_TIMEOUT:-480}"
mkdir -p "$BIN"

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v wrk >/dev/null || need_apt+=(wrk)
{ command -v htpasswd >/dev/null && command -v ab >/dev/null; } || need_apt+=(apache2-utils)
if ((${#need_apt[@]})); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi
# The Debian package may start a system service on machines with an init system; the
# harness starts its own instances, so keep the packaged one out of the way.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
fi

if [[ ! -x "$BIN/registry" ]]; then
    echo "building distribution $DISTRIBUTION_V3_VERSION into $BIN" >&2
    GOBIN="$BIN" "$GO" install \
        "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_V3_VERSION"
fi

if [[ "${SKIP_ZOT:-0}" != 1 && ! -x "$BIN/zot" && ! -f "$BIN/zot.build-failed" ]]; then
    echo "building zot $ZOT_VERSION into $BIN (at most ${ZOT_BUILD_TIMEOUT}s)" >&2
    log="$BIN/zot.build.log"
    : >"$log"
    ok=0
    for module in zotregistry.dev/zot/v2/cmd/zot zotregistry.dev/zot/cmd/zot; do
        rc=0
        GOBIN="$BIN" timeout "$ZOT_BUILD_TIMEOUT" "$GO" install "$module@$ZOT_VERSION" \
            >>"$log" 2>&1 || rc=$?
        if ((rc == 0)); then
            ok=1
            break
        fi
        # 124 is timeout(1) giving up.
        echo "--- $module@$ZOT_VERSION failed (exit $rc)" >>"$log"
    done
    if ((ok == 0)); then
        tail -n 20 "$log" >"$BIN/zot.build-failed"
        echo "zot did not build; see $BIN/zot.build-failed" >&2
    fi
fi
echo "benchmark tools ready" >&2
