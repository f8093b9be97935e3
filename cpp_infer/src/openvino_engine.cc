// OpenVINO (the C++ runtime of the `openvino` pip wheel): a legacy inference.pdmodel
// or an ONNX file, with the Python engine's settings (runtime/engines/openvino.py OpenVINOEngine):
// INFERENCE_NUM_THREADS, an explicit precision hint, PERFORMANCE_HINT LATENCY, and the
// compiled-model cache. The hint is always given, f32 or bf16 as resolved by CreateEngine
// (--precision auto: bf16 where the CPU's OPTIMIZATION_CAPABILITIES list BF16, see engine.h):
// without it OpenVINO would pick bf16 by itself on CPUs that have it, also for --precision fp32.
#include <sys/stat.h>

#include <cstdlib>
#include <openvino/openvino.hpp>

#include "engine.h"

namespace ppcls_hrnet {
namespace {

bool MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (!prefix.empty()) mkdir(prefix.c_str(), 0755);
    if (slash == std::string::npos) break;
  }
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// "default": $PPCLS_HRNET_HOME/openvino_cache (home: ~/.cache/ppcls_hrnet), as ppcls_hrnet/base/home.py;
// "" when there is none or it cannot be made (a read-only home only costs compile time).
std::string CacheDir(const std::string& option) {
  std::string path = option;
  if (option == "default") {
    const char* env = std::getenv("PPCLS_HRNET_HOME");
    std::string home = env && *env ? env : "~/.cache/ppcls_hrnet";
    if (home[0] == '~' && (home.size() == 1 || home[1] == '/')) {
      const char* user_home = std::getenv("HOME");
      home = std::string(user_home ? user_home : "") + home.substr(1);
    }
    path = home + "/openvino_cache";
  }
  if (path.empty() || !MakeDirs(path)) return "";
  return path;
}

std::string ShapeText(const std::vector<long long>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

class OpenVINOEngine : public Engine {
 public:
  OpenVINOEngine(const DeployConfig& deploy, const std::string& path, int threads, ov::element::Type precision,
                 const std::string& cache_dir) {
    source_ = path;
    try {
      ov::Core core;
      std::string cache = CacheDir(cache_dir);
      if (!cache.empty()) core.set_property(ov::cache_dir(cache));
      // The model object, not the path: OpenVINO then keys its cache on the content (weights
      // included), so a re-export never reuses a stale blob.
      std::shared_ptr<ov::Model> model = core.read_model(path);
      CheckInput(deploy, path, model);
      compiled_ = core.compile_model(model, "CPU", ov::inference_num_threads(threads),
                                     ov::hint::inference_precision(precision),
                                     ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY));
      request_ = compiled_.create_infer_request();
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      throw ConfigError("OpenVINO could not load " + path + ": " + FirstLine(e.what()));
    }
  }

  int Run(const float* batch, int n, const std::vector<int>& chw, std::vector<float>* out) override {
    try {
      ov::Tensor input(ov::element::f32, ov::Shape{static_cast<size_t>(n), static_cast<size_t>(chw[0]),
                                                   static_cast<size_t>(chw[1]), static_cast<size_t>(chw[2])},
                       const_cast<float*>(batch));
      request_.set_input_tensor(input);
      request_.infer();
      ov::Tensor output = request_.get_output_tensor(0);
      if (output.get_element_type() != ov::element::f32)
        throw std::runtime_error("the model's output is " + output.get_element_type().get_type_name() +
                                 ", not f32");
      const float* data = output.data<const float>();
      out->assign(data, data + output.get_size());  // the request's buffer: the next run overwrites it
      return static_cast<int>(output.get_size() / n);
    } catch (const std::exception& e) {
      throw Error("OpenVINO inference on " + source_ + " failed: " + FirstLine(e.what()));
    }
  }

 private:
  static void CheckInput(const DeployConfig& deploy, const std::string& path,
                         const std::shared_ptr<ov::Model>& model) {
    if (model->inputs().size() != 1)
      throw ConfigError(path + " has " + std::to_string(model->inputs().size()) +
                        " inputs; an image classifier has one");
    ov::PartialShape shape = model->input(0).get_partial_shape();
    bool fits = shape.rank().is_static() && shape.rank().get_length() == 4;
    for (int i = 1; fits && i < 4; ++i)
      fits = shape[i].is_dynamic() || shape[i].get_length() == deploy.input_shape[i];
    if (!fits)
      throw ConfigError(path + " takes input " + shape.to_string() + " but inference.yml's input.shape is " +
                        ShapeText(deploy.input_shape) + "; re-export the model");
  }

  ov::CompiledModel compiled_;
  ov::InferRequest request_;
};

}  // namespace

std::vector<std::string> OpenVINOCPUCapabilities() {
  try {
    ov::Core core;
    return core.get_property("CPU", ov::device::capabilities);
  } catch (const std::exception&) {
    return {};  // no answer: auto runs fp32
  }
}

std::unique_ptr<Engine> CreateOpenVINOEngine(const DeployConfig& deploy, const Options& options) {
  const std::string& dir = deploy.model_dir;
  if (options.precision == "int8") {
    // The QDQ model carries the int8 scales; its float parts stay f32.
    std::string path = deploy.ModelFile("onnx_int8");
    if (!FileExists(path))
      throw BackendUnavailableError(
          dir + " has no int8 model" + (path.empty() ? "" : " (" + path + " is missing)") +
          "; make one with `ppcls-hrnet quantize --inference_model_dir " + dir + " --calib_list LIST`");
    return std::make_unique<OpenVINOEngine>(deploy, path, options.cpu_threads, ov::element::f32,
                                            options.openvino_cache_dir);
  }
  ov::element::Type precision = options.precision == "bf16" ? ov::element::bf16 : ov::element::f32;
  std::string legacy = deploy.ModelFile("legacy"), onnx = deploy.ModelFile("onnx");
  std::string path = FileExists(legacy) ? legacy : FileExists(onnx) ? onnx : "";
  if (path.empty()) {
    std::string missing = legacy.empty() ? dir + "/inference.pdmodel" : legacy;
    throw ConfigError("model file " + missing + " does not exist and " + dir +
                      " has no ONNX model either (OpenVINO reads those two); re-export with "
                      "`ppcls-hrnet export -c CONFIG --legacy`, or convert with "
                      "`ppcls-hrnet onnx --inference_model_dir " + dir + "`");
  }
  return std::make_unique<OpenVINOEngine>(deploy, path, options.cpu_threads, precision, options.openvino_cache_dir);
}

}  // namespace ppcls_hrnet
