#!/usr/bin/env bash
# Regenerates internal/cfntemplate/resource-types.txt, the CloudFormation resource types the plan
# accepts: every type of the CloudFormation resource specification in any region, as shipped by
# cfn-lint (pip install cfn-lint), which keeps it current from the published per-region
# provider schemas.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import importlib, pkgutil, cfnlint
from importlib.metadata import version
import cfnlint.data.schemas.providers as providers
types = set()
for m in pkgutil.iter_modules(providers.__path__):
    if m.name.startswith("_"):
        continue
    types |= set(importlib.import_module(f"{providers.__name__}.{m.name}").types)
with open("internal/cfntemplate/resource-types.txt", "w") as f:
    f.write(f"# CloudFormation resource types in any region: the resource specification as shipped by cfn-lint {version('cfn-lint')}.\n")
    f.write("# Regenerate with scripts/resource-types.sh.\n")
    for t in sorted(types):
        f.write(t + "\n")
print(len(types), "types")
PY
