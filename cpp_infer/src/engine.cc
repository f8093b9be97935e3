#include "engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>

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

bool Contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// The names PPCLS_HRNET_CPU_CAPABILITIES sets (upper case), or none when it is unset or holds
// no name (Python's value.replace(",", " ").split()).
std::optional<std::set<std::string>> CapabilitiesOverride() {
  const char* env = std::getenv(kCapabilitiesEnv);
  if (!env) return std::nullopt;
  std::set<std::string> names;
  std::string name;
  for (const char* c = env;; ++c) {
    const unsigned char byte = static_cast<unsigned char>(*c);
    // str.split()'s ASCII separators: whitespace and \x1c-\x1f
    if (byte == 0 || byte == ',' || std::isspace(byte) || (byte >= 0x1c && byte <= 0x1f)) {
      if (!name.empty()) names.insert(Upper(name));
      name.clear();
      if (byte == 0) break;
    } else {
      name += static_cast<char>(byte);
    }
  }
  if (names.empty()) return std::nullopt;
  return names;
}

// Whether `spec` computes bf16 natively on this CPU (an emulated bf16 is slower than fp32).
bool ComputesBF16(const BackendSpec& spec, const Options& options) {
  if (!Contains(spec.cpu_precisions, "bf16")) return false;
  if (spec.name == "paddle" && !options.enable_mkldnn) return false;  // Paddle's CPU bf16 is oneDNN's
  if (auto names = CapabilitiesOverride()) return names->count("BF16") > 0;
  if (spec.name == "openvino") {
    for (const auto& name : OpenVINOCPUCapabilities())
      if (Upper(name) == "BF16") return true;
  }
  // Paddle Inference: its SDK ships no header to ask oneDNN (the x86 bf16 guide's
  // platform::MayIUse is internal), so auto runs fp32 there unless the variable says BF16.
  return false;
}

// Why the model's own bf16 check rules bf16 out (precision.py's model_refuses_bf16), or "".
std::string ModelRefusesBF16(const DeployConfig& deploy) {
  auto found = deploy.precision_checks.find("bf16");
  if (found == deploy.precision_checks.end() || !found->second.top1_agreement) return "";
  const double agreement = *found->second.top1_agreement;
  if (agreement >= kBF16MinAgreement) return "";
  char changed[64], allowed[64];
  std::snprintf(changed, sizeof changed, "%.2f", (1 - agreement) * 100);
  std::snprintf(allowed, sizeof allowed, "%g", (1 - kBF16MinAgreement) * 100);
  return std::string("bf16 changed the top-1 class of ") + changed + " % of " + found->second.images +
         " images against fp32 (inference.yml PrecisionCheck; auto needs at most " + allowed + " %)";
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

EngineChoice CreateEngine(const DeployConfig& deploy, const Options& asked) {
  const std::vector<std::string> precisions = {"auto", "fp32", "fp16", "bf16", "int8"};
  if (!Contains(precisions, asked.precision))
    throw ConfigError("precision must be one of " + Join(precisions) + ", got '" + asked.precision + "'");
  EngineChoice choice;
  choice.options = asked;
  Options& options = choice.options;
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
  if (options.precision == "auto") {  // never int8 or fp16: those are asked for by name
    const bool cpu_bf16 = !gpu && ComputesBF16(*spec, options);
    const std::string refusal = gpu ? "" : ModelRefusesBF16(deploy);
    options.precision = cpu_bf16 && refusal.empty() ? "bf16" : "fp32";
    if (cpu_bf16 && !refusal.empty()) choice.auto_precision_note = refusal;
  }
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
  choice.engine = spec->name == "openvino" ? CreateOpenVINOEngine(deploy, options) : CreatePaddleEngine(deploy, options);
  return choice;
}

#ifndef PPCLS_WITH_OPENVINO
std::unique_ptr<Engine> CreateOpenVINOEngine(const DeployConfig&, const Options&) { return nullptr; }
std::vector<std::string> OpenVINOCPUCapabilities() { return {}; }
#endif
#ifndef PPCLS_WITH_PADDLE_INFERENCE
std::unique_ptr<Engine> CreatePaddleEngine(const DeployConfig&, const Options&) { return nullptr; }
#endif

}  // namespace ppcls_hrnet
