#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need when it is missing
# (Debian's awscli v2 for the sandbox fidelity tests), then vets and tests every package, with the
# race detector on the packages that run concurrent code.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! /usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2'; then need_apt+=(awscli); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need_apt[*]} (apt-get)…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: ${need_apt[*]} missing and not root; tests that need it will skip (or fail under CI=true)" >&2
  fi
fi

go mod download
# go.mod and go.sum say exactly what the code imports.
if ! go mod tidy -diff >/dev/null; then echo 'go.mod/go.sum are not tidy: run go mod tidy' >&2; go mod tidy -diff >&2 || true; exit 1; fi
go vet ./...
# The race detector is 5-10x slower; the packages with concurrency get it, the rest run plain.
race_pkgs=$(go list ./... | grep -E '/internal/(sandbox|rollout|apply|state|awsclient|cfn|cli|pipeline|gates)' || true)
plain_pkgs=$(go list ./... | grep -vE '/internal/(sandbox|rollout|apply|state|awsclient|cfn|cli|pipeline|gates)' || true)
if [ -n "$race_pkgs" ]; then go test -race -timeout 20m $race_pkgs; fi
if [ -n "$plain_pkgs" ]; then go test -timeout 20m $plain_pkgs; fi
