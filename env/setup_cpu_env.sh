#!/usr/bin/env bash
# Creates (or reuses) the CPU virtualenv used by the README's commands, the tests and CI.
# CPU-only workarounds live in env/cpu_shims and are installed into the venv, never into
# coretune_mm. On a GPU machine use the normal OpenMMLab install instead (README).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=${1:-$root/.venv}
stamp=$venv/.coretune-env-stamp
want=$(cat "$here"/requirements-cpu.txt "$here"/constraints-cpu.txt "$here"/cpu_shims/* "$0" | sha1sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
start=$(date +%s)
python3 -m venv "$venv"
pip_install() {  # quiet pip; prints its log (less this machine's index noise) on failure
  local log; log=$(mktemp)
  if ! "$venv/bin/python" -m pip install -q "$@" >"$log" 2>&1; then
    grep -v 'is ignored: it is neither' "$log" >&2; exit 1
  fi
  rm -f "$log"
}
echo "creating the CPU environment in $venv (about a minute with a warm pip cache)"
pip_install --upgrade "pip<25" wheel
pip_install -c "$here"/constraints-cpu.txt -r "$here"/requirements-cpu.txt
# torchvision: no CPU build on the registry; the wheel for torch 2.13 installs without its
# (CUDA) dependencies and works in pure Python once the shims define its op schemas.
pip_install --no-deps torchvision==0.28.0
pip_install --no-deps --no-build-isolation -e "$root"
site=$($venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp "$here"/cpu_shims/coretune_cpu_env_shims.py "$here"/cpu_shims/coretune-cpu-env-shims.pth "$site"/
# smoke check: the whole stack imports and every component registers
$venv/bin/python - <<'PY'
import torchvision, mmseg.models, mmpretrain.models, coretune_mm  # noqa
from mmpretrain.registry import MODELS as P
from mmseg.registry import MODELS as S
for name in ('HardMixup', 'CoreLoss'):
    assert P.get(name) is not None and S.get(name) is not None, name
print('environment ok: torch', __import__('torch').__version__, 'mmcv',
      __import__('mmcv').__version__)
PY
echo "$want" > "$stamp"
echo "environment ready in $(( $(date +%s) - start )) s: $venv"
