#!/usr/bin/env bash
# Creates (or reuses) a CPU virtualenv for the README's commands, the tests and CI.
#   bash env/setup_cpu_env.sh [VENV] [TORCH]
# TORCH (default 2.13.0, the development environment) is one of the torch releases in the
# table below; 2.1.2 is the newest torch that mmcv 2.1's prebuilt CUDA wheels support, i.e.
# what most mmseg 1.2.2 users run. Each environment lives in its own folder and is rebuilt
# only when its inputs change. CPU-only workarounds live in env/cpu_shims and are installed
# into the venv, never into coretune_mm. On a GPU machine use the normal OpenMMLab install
# instead (README).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=${1:-$root/.venv}
torch_version=${2:-2.13.0}
# torch -> the torchvision built for it. 2.13.0 is the registry's local CPU wheel; 2.1.2 is the
# ordinary PyPI (CUDA 12.1) wheel, which also runs on a machine without a GPU.
case "$torch_version" in
  2.13.0) torchvision_version=0.28.0 ;;
  2.1.2) torchvision_version=0.16.2 ;;
  *) echo "setup_cpu_env.sh: torch $torch_version is not one of the tested versions (2.13.0, 2.1.2)" >&2; exit 2 ;;
esac
stamp=$venv/.coretune-env-stamp
want=$( (echo "$torch_version"; cat "$here"/requirements-cpu.txt "$here"/constraints-cpu.txt "$here"/cpu_shims/* "$0") | sha1sum | cut -c1-16)
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
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# the static pins, and torch pinned to the requested version (an unpinned torch would pull
# the newest multi-GB CUDA build)
{ cat "$here"/constraints-cpu.txt; echo "torch==$torch_version"; } > "$constraints"
echo "creating the CPU environment with torch $torch_version in $venv (a few minutes with a warm pip cache)"
pip_install --upgrade "pip<25" wheel
pip_install -c "$constraints" -r "$here"/requirements-cpu.txt
# torchvision without its dependencies (they would re-resolve torch). For 2.13 there is no CPU
# build on the registry: the CUDA wheel works in pure Python once the shims define its op schemas.
pip_install -c "$constraints" requests pillow
pip_install --no-deps "torchvision==$torchvision_version"
pip_install --no-deps --no-build-isolation -e "$root"
site=$($venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp "$here"/cpu_shims/coretune_cpu_env_shims.py "$here"/cpu_shims/coretune-cpu-env-shims.pth "$site"/
# smoke check: the whole stack imports and every component registers
$venv/bin/python - "$torch_version" <<'PY'
import sys
import torchvision, mmseg.models, mmpretrain.models, coretune_mm  # noqa
import torch
from mmpretrain.registry import MODELS as P
from mmseg.registry import MODELS as S
for name in ('HardMixup', 'CoreLoss'):
    assert P.get(name) is not None and S.get(name) is not None, name
assert torch.__version__.split('+')[0] == sys.argv[1], torch.__version__
print('environment ok: torch', torch.__version__, 'torchvision',
      torchvision.__version__, 'mmcv', __import__('mmcv').__version__)
PY
echo "$want" > "$stamp"
echo "environment ready in $(( $(date +%s) - start )) s: $venv"
