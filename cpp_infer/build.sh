#!/usr/bin/env bash
# Configure and build cpp_infer into cpp_infer/build/ (or $1), finding OpenVINO's C++ runtime
# through the active Python's `openvino` wheel. Extra arguments go to cmake, e.g.
#   cpp_infer/build.sh                       # -> cpp_infer/build/ppcls_hrnet_infer
#   cpp_infer/build.sh /tmp/b -DWITH_PADDLE_INFERENCE=ON -DPADDLE_LIB=/opt/paddle_inference
# Needs: cmake g++ libopencv-dev libyaml-cpp-dev (apt), and `pip install openvino`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/build}
[ $# -gt 0 ] && shift
python=${PYTHON:-python3}
openvino_dir=$("$python" -c "import openvino.utils as u; print(u.get_cmake_path())") || {
  echo "error: cannot find OpenVINO's CMake config: pip install openvino (in the Python that $python runs)" >&2
  exit 2
}
# The paddlepaddle wheel exports Paddle Inference's C++ API: the Paddle backend is link-checked against it
paddle_lib=$("$python" -c "import importlib.util as u, os; s = u.find_spec('paddle'); \
print(os.path.join(os.path.dirname(s.origin), 'base', 'libpaddle.so') if s else '')" 2>/dev/null || true)
[ -f "$paddle_lib" ] || paddle_lib=""
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DOpenVINO_DIR="$openvino_dir" \
  -DPADDLE_API_CHECK_LIB="$paddle_lib" "$@"
cmake --build "$build" -j "$(nproc)"
echo "built $build/ppcls_hrnet_infer"
