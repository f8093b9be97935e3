#include "engine.h"

#include <sys/stat.h>

#include <algorithm>

namespace ppcls_hrnet {
namespace {

struct BackendSpec {
  std::string name;
  std::vector<std::string> cpu_precisions, gpu_precisions;
  bool compiled;
};

const std::vector<BackendSpec>& Backends() {
  static const std::vector<BackendSpec> backends = {
#ifdef PPCLS_WITH_OPENVINO
      {"openvino", {"fp32", "bf16", "int8"}, {}, true},
#else
      {"openvino", {"fp32", "bf16", "int8"}, {}, false},
#endif
#ifdef PPCLS_WITH_PADDLE_INFERENCE
      {"paddle", {"fp32", "bf16"}, {"fp32", "fp16", "int8"}, true},
#else
      {"paddle", {"fp32", "bf16"}, {"fp32", "fp16", "int8"}, false},
#endif
  };
  return backends;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

bool FileExists(const std::string& path) {
  struct stat info;
  return !path.empty() && stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string FirstLine(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "unknown error";
  size_t end = text.find('\n', begin);
  return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::unique_ptr<Engine> CreateEngine(const DeployConfig& deploy, const Options& options) {
  const std::vector<std::string> precisions = {"fp32", "fp16", "bf16", "int8"};
  if (std::find(precisions.begin(), precisions.end(), options.precision) == precisions.end())
    throw ConfigError("precision must be one of " + Join(precisions) + ", got '" + options.precision + "'");
  if (options.cpu_threads < 1)
    throw ConfigError("cpu_threads must be >= 1, got " + std::to_string(options.cpu_threads));
  auto spec = std::find_if(Backends().begin(), Backends().end(),
                           [&](const BackendSpec& b) { return b.name == options.backend; });
  if (spec == Backends().end())
    throw ConfigError("backend must be openvino or paddle, got '" + options.backend + "'");
  if (options.use_tensorrt && options.backend != "paddle")
    throw ConfigError("use_tensorrt runs through Paddle Inference: use backend paddle, not " + options.backend);
  if (!spec->compiled) {
    if (spec->name == "paddle")
      throw BackendUnavailableError(
          "this build has no Paddle Inference backend: rebuild with -DWITH_PADDLE_INFERENCE=ON "
          "-DPADDLE_LIB=/path/to/paddle_inference (Paddle's C++ inference SDK, downloaded from "
          "paddlepaddle.org.cn; no package registry has it), or use --backend openvino");
    throw BackendUnavailableError("this build has no OpenVINO backend: rebuild with -DWITH_OPENVINO=ON");
  }
  const bool gpu = options.use_gpu || options.use_tensorrt;
  const auto& supported = gpu ? spec->gpu_precisions : spec->cpu_precisions;
  if (std::find(supported.begin(), supported.end(), options.precision) == supported.end()) {
    if (supported.empty())
      throw BackendUnavailableError(spec->name + " does not run on GPU here; use --backend paddle for GPU");
    std::string hint;
    if (options.precision == "fp16" && !gpu) hint = "; fp16 needs a GPU (--use_gpu); on CPU use bf16 or int8";
    if (options.precision == "int8" && !gpu)
      hint = "; CPU int8 runs the model quantized by `ppcls-hrnet quantize` on openvino";
    throw BackendUnavailableError(spec->name + " on " + (gpu ? "GPU" : "CPU") + " runs " + Join(supported) +
                                  ", not " + options.precision + hint);
  }
  if (spec->name == "openvino") return CreateOpenVINOEngine(deploy, options);
  return CreatePaddleEngine(deploy, options);
}

#ifndef PPCLS_WITH_OPENVINO
std::unique_ptr<Engine> CreateOpenVINOEngine(const DeployConfig&, const Options&) { return nullptr; }
#endif
#ifndef PPCLS_WITH_PADDLE_INFERENCE
std::unique_ptr<Engine> CreatePaddleEngine(const DeployConfig&, const Options&) { return nullptr; }
#endif

}  // namespace ppcls_hrnet
