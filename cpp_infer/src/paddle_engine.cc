// Paddle Inference C++ (compiled only with -DWITH_PADDLE_INFERENCE=ON -DPADDLE_LIB=<paddle_inference>),
// written to Paddle's documented C++ API (paddle_infer::Config, CreatePredictor, Tensor) with the
// Python engine's settings (predictors/engines.py PaddleInferenceEngine, backends.py _paddle_precision):
// CPU with oneDNN and N math threads (bf16: oneDNN bfloat16), GPU (fp16: half precision), and
// TensorRT fp32/fp16/int8 with a dynamic batch 1..max_batch_size.
#include <algorithm>
#include <map>
#include <numeric>

#include "engine.h"
#include "paddle_inference_api.h"

namespace ppcls_hrnet {
namespace {

struct ModelFiles {
  std::string model, params;
  bool legacy;
};

// inference.json (PIR) when present, else inference.pdmodel; TensorRT prefers the legacy program,
// for which Paddle documents its subgraph engine.
ModelFiles FindModel(const DeployConfig& deploy, const Options& options) {
  std::string pir = deploy.ModelFile("pir"), legacy = deploy.ModelFile("legacy");
  if (pir.empty()) pir = deploy.model_dir + "/inference.json";
  if (legacy.empty()) legacy = deploy.model_dir + "/inference.pdmodel";
  std::string params = deploy.ModelFile("params");
  if (params.empty()) params = deploy.model_dir + "/inference.pdiparams";
  ModelFiles files{"", params, false};
  if (options.use_tensorrt && FileExists(legacy))
    files = {legacy, params, true};
  else if (FileExists(pir))
    files = {pir, params, false};
  else if (FileExists(legacy))
    files = {legacy, params, true};
  else
    throw ConfigError(deploy.model_dir + " has no inference.json or inference.pdmodel (model file " + pir +
                      " does not exist); export one with `ppcls-hrnet export -c CONFIG`");
  if (!FileExists(files.params))
    throw ConfigError(files.model + " has no parameters file " + files.params + " beside it");
  return files;
}

paddle_infer::PrecisionType Precision(const std::string& precision) {
  if (precision == "fp16") return paddle_infer::PrecisionType::kHalf;
  if (precision == "int8") return paddle_infer::PrecisionType::kInt8;
  if (precision == "bf16") return paddle_infer::PrecisionType::kBf16;
  return paddle_infer::PrecisionType::kFloat32;
}

class PaddleEngine : public Engine {
 public:
  PaddleEngine(const DeployConfig& deploy, const Options& options) {
    ModelFiles files = FindModel(deploy, options);
    source_ = files.model;
    const bool gpu = options.use_gpu || options.use_tensorrt;
    if (gpu && options.precision == "int8" && !options.use_tensorrt)
      throw BackendUnavailableError("int8 on GPU runs through TensorRT: add --use_tensorrt");
    paddle_infer::Config config(files.model, files.params);
    config.DisableGlogInfo();
    config.SwitchIrOptim(true);
    if (gpu) {
      config.EnableUseGpu(static_cast<uint64_t>(options.gpu_mem_mb), options.gpu_id,
                          options.precision == "fp16" && !options.use_tensorrt ? Precision("fp16")
                                                                                : Precision("fp32"));
    } else {
      config.DisableGpu();
      config.SetCpuMathLibraryNumThreads(options.cpu_threads);
      if (options.enable_mkldnn) {
        config.EnableMKLDNN();  // Paddle 3 turns oneDNN on by default on x86: "off" must be said
        if (options.precision == "bf16") config.EnableMkldnnBfloat16();
      } else {
        if (options.precision == "bf16") throw ConfigError("bf16 on CPU runs on oneDNN: do not disable enable_mkldnn");
        config.DisableMKLDNN();
      }
    }
    // Paddle 3.3.1's memory_optimize_pass is missing for PIR programs: only the legacy one gets it.
    if (files.legacy) config.EnableMemoryOptim();
    if (options.use_tensorrt) {
      const int max_batch = std::max(1, options.max_batch_size);
      config.EnableTensorRtEngine(int64_t{1} << 30, max_batch, 3, Precision(options.precision), false,
                                  options.precision == "int8");
      const int c = static_cast<int>(deploy.input_shape[1]), h = static_cast<int>(deploy.input_shape[2]),
                w = static_cast<int>(deploy.input_shape[3]);
      std::map<std::string, std::vector<int>> min_shape{{deploy.input_name, {1, c, h, w}}};
      std::map<std::string, std::vector<int>> max_shape{{deploy.input_name, {max_batch, c, h, w}}};
      std::map<std::string, std::vector<int>> opt_shape{{deploy.input_name, {1, c, h, w}}};
      config.SetTRTDynamicShapeInfo(min_shape, max_shape, opt_shape);
    }
    try {
      predictor_ = paddle_infer::CreatePredictor(config);
    } catch (const std::exception& e) {
      throw ConfigError("Paddle Inference could not load " + files.model + ": " + FirstLine(e.what()));
    }
    if (!predictor_) throw ConfigError("Paddle Inference could not load " + files.model);
    auto inputs = predictor_->GetInputNames();
    if (inputs.size() != 1)
      throw ConfigError(files.model + " has " + std::to_string(inputs.size()) + " inputs; an image classifier has one");
    input_ = predictor_->GetInputHandle(inputs[0]);
    output_ = predictor_->GetOutputHandle(predictor_->GetOutputNames()[0]);
  }

  int Run(const float* batch, int n, const std::vector<int>& chw, std::vector<float>* out) override {
    try {
      input_->Reshape({n, chw[0], chw[1], chw[2]});
      input_->CopyFromCpu(batch);
      if (!predictor_->Run()) throw std::runtime_error("Predictor::Run() returned false");
      std::vector<int> shape = output_->shape();
      size_t size = std::accumulate(shape.begin(), shape.end(), size_t{1},
                                    [](size_t a, int b) { return a * static_cast<size_t>(b); });
      out->resize(size);
      output_->CopyToCpu(out->data());
      return static_cast<int>(size / n);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("Paddle Inference on " + source_ + " failed: " + FirstLine(e.what()));
    }
  }

 private:
  std::shared_ptr<paddle_infer::Predictor> predictor_;
  std::unique_ptr<paddle_infer::Tensor> input_, output_;
};

}  // namespace

std::unique_ptr<Engine> CreatePaddleEngine(const DeployConfig& deploy, const Options& options) {
  return std::make_unique<PaddleEngine>(deploy, options);
}

}  // namespace ppcls_hrnet
