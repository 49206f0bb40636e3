#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need when it is missing
# (Debian's awscli v2 and nodejs for the sandbox fidelity tests, chromium for the dashboard
# tests; the pinned CDK CLI and construct library from npm, cached), then vets and tests every
# package, with the race detector on the packages that run concurrent code.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! /usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2'; then need_apt+=(awscli); fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need_apt+=(nodejs npm); fi
# Headless Chromium drives the dashboard in the browser tests (and renders the README's screenshots).
if ! command -v chromium >/dev/null; then need_apt+=(chromium fonts-dejavu-core); fi
# A real PostgreSQL holds the shared state in the state and Temporal executor tests (started by
# the tests themselves, in a temporary directory).
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then need_apt+=(postgresql); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need_apt[*]} (apt-get)…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: ${need_apt[*]} missing and not root; tests that need it will skip (or fail under CI=true)" >&2
  fi
fi

# The CDK CLI test (internal/sandbox/cdk_test.go) runs these exact versions, installed once per
# machine into the cache.
cdk_cli=2.1148.1 cdk_lib=2.276.0 cdk_constructs=10.8.1
export STACKFLEET_CDK_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/stackfleet/cdk-$cdk_cli-lib-$cdk_lib"
if command -v npm >/dev/null && [ ! -x "$STACKFLEET_CDK_DIR/node_modules/.bin/cdk" ]; then
  echo "installing aws-cdk@$cdk_cli aws-cdk-lib@$cdk_lib (npm, into $STACKFLEET_CDK_DIR)…"
  mkdir -p "$STACKFLEET_CDK_DIR"
  npm install --prefix "$STACKFLEET_CDK_DIR" --no-audit --no-fund --silent \
    "aws-cdk@$cdk_cli" "aws-cdk-lib@$cdk_lib" "constructs@$cdk_constructs" >/dev/null
fi

# The Temporal executor's integration tests run a real Temporal dev server: the temporal CLI at
# this version, built once per machine from the Go module proxy into the cache (~5 minutes cold).
temporal_cli=v1.5.1
export STACKFLEET_TEMPORAL="${XDG_CACHE_HOME:-$HOME/.cache}/stackfleet/temporal-cli-$temporal_cli/temporal"
if [ ! -x "$STACKFLEET_TEMPORAL" ]; then
  echo "building the temporal CLI $temporal_cli (go install, into $(dirname "$STACKFLEET_TEMPORAL"))…"
  GOBIN="$(dirname "$STACKFLEET_TEMPORAL")" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$temporal_cli"
fi

go mod download
# go.mod and go.sum say exactly what the code imports.
if ! go mod tidy -diff >/dev/null; then echo 'go.mod/go.sum are not tidy: run go mod tidy' >&2; go mod tidy -diff >&2 || true; exit 1; fi
go vet ./...
# The race detector is 5-10x slower; the packages with concurrency get it, the rest run plain.
race_pkgs=$(go list ./... | grep -E '/internal/(sandbox|rollout|apply|state|awsclient|cfn|cli|pipeline|gates|durable)' || true)
plain_pkgs=$(go list ./... | grep -vE '/internal/(sandbox|rollout|apply|state|awsclient|cfn|cli|pipeline|gates|durable)' || true)
if [ -n "$race_pkgs" ]; then go test -race -timeout 20m $race_pkgs; fi
if [ -n "$plain_pkgs" ]; then go test -timeout 20m $plain_pkgs; fi
