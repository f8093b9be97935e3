#!/usr/bin/env bash
# A Python 3.8 venv that runs the Paddle Serving bundle: paddlepaddle 2.6.2 +
# paddle-serving-server/app/client 0.9.0 (their cp38 wheels), and ppcls_hrnet's
# non-Paddle dependencies (numpy, opencv, pyyaml, tqdm) so the package's
# inference.yml reader and transforms import there from a checkout on PYTHONPATH.
#
#   bash deploy/paddleserving/setup_venv.sh VENV_DIR      # prints VENV_DIR/bin/python last
#
# Python 3.8: $PYTHON38, else pyenv's newest 3.8.x, else python3.8 on PATH.
# $OPENCV_VERSION pins opencv-python-headless (CI passes the main environment's,
# so both decode and resize images with the same OpenCV). A venv built by this
# same recipe is reused (stamp file); a different recipe rebuilds it.
set -euo pipefail
venv=${1:?usage: setup_venv.sh VENV_DIR}
here=$(cd "$(dirname "$0")" && pwd)

py38=${PYTHON38:-}
if [ -z "$py38" ]; then
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  version=$(ls "$root/versions" 2>/dev/null | grep -E '^3\.8\.[0-9]+$' | sort -t. -k3 -n | tail -1 || true)
  if [ -n "$version" ]; then py38="$root/versions/$version/bin/python"; fi
fi
py38=${py38:-$(command -v python3.8 || true)}
if [ -z "$py38" ] || ! "$py38" -c 'import sys; assert sys.version_info[:2] == (3, 8)' 2>/dev/null; then
  echo "setup_venv.sh: no Python 3.8 found (set PYTHON38, or install 3.8 with pyenv)" >&2
  exit 1
fi

opencv="opencv-python-headless${OPENCV_VERSION:+==$OPENCV_VERSION}"
# Paddle Serving 0.9's pins that install on 3.8 (its own exact pins need compilers or
# old wheels); charset-normalizer 3 (mypyc build) segfaults when imported after paddle 2.6.2.
serving_deps=("click<8.1" "flask<2.1" func-timeout "grpcio<1.49" "grpcio-tools<1.49" "itsdangerous<2.1"
              "Jinja2<3.1" "MarkupSafe<2.1" "protobuf>=3.20,<3.21" six "Werkzeug<2.1" pillow requests
              ujson pytest "charset-normalizer<3")
stamp_text="$(cat "$0") $opencv $("$py38" -V 2>&1)"
stamp="$venv/.ppcls_hrnet_recipe"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
  echo "setup_venv.sh: reusing $venv" >&2
  echo "$venv/bin/python"
  exit 0
fi

if [ -e "$venv" ] && [ -n "$(ls -A "$venv")" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
  echo "setup_venv.sh: $venv exists and is not a venv; give a new or a venv folder" >&2
  exit 1
fi
rm -rf "$venv"
"$py38" -m venv "$venv"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pip() {  # pip's warnings about Paddle Serving's unmet pins go to the log, shown on failure
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$log" 2>&1 ||
    { tail -30 "$log" >&2; echo "setup_venv.sh: pip install $* failed" >&2; exit 1; }
}
echo "setup_venv.sh: building $venv with $("$py38" -V 2>&1) (~150 MB from PyPI)" >&2
pip paddlepaddle==2.6.2 "numpy<1.25" "$opencv" pyyaml tqdm
# paddle-serving-app pins an opencv-python that must be compiled: the three without deps
pip --no-deps paddle-serving-server==0.9.0 paddle-serving-app==0.9.0 paddle-serving-client==0.9.0
pip "${serving_deps[@]}"

# the bundle's imports, and ppcls_hrnet's inference.yml reader + transforms without Paddle 3
# (in a scratch folder: importing paddle_serving_server makes PipelineServingLogs/ where it runs)
scratch=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$scratch"' EXIT
(cd "$scratch" && PYTHONPATH="$here/../.." "$venv/bin/python" - <<'EOF'
import sys
import paddle
assert paddle.__version__ == "2.6.2", paddle.__version__
import requests  # noqa: F401  (after paddle: the charset-normalizer crash)
from paddle_serving_server.web_service import WebService, Op  # noqa: F401
from paddle_serving_app.local_predict import LocalPredictor  # noqa: F401
from ppcls_hrnet.runtime.contract import read_deploy_config  # noqa: F401
print("setup_venv.sh: paddle", paddle.__version__, "on Python", sys.version.split()[0], file=sys.stderr)
EOF
)
echo "$stamp_text" > "$stamp"
echo "$venv/bin/python"
