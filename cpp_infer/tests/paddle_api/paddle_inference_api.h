// The part of Paddle Inference's documented C++ API that src/paddle_engine.cc uses
// (paddle_infer::Config = paddle::AnalysisConfig, CreatePredictor, Predictor, Tensor; see
// paddlepaddle.org.cn/inference "C++ API"), declared with the exact signatures Paddle 3.3.1 exports
// (nm -DC paddle/base/libpaddle.so of the paddlepaddle wheel, which carries this API).
//
// Only for the API check (CMake PADDLE_API_CHECK_LIB, set by build.sh when the paddlepaddle wheel is
// installed): paddle_engine.cc is compiled against these declarations and linked, with
// --no-undefined, against the wheel's libpaddle.so, so a name or signature that Paddle 3.3.1 does not
// export fails the build. Nothing is run. A real build uses the SDK's own headers (-DPADDLE_LIB).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace paddle {

struct AnalysisConfig {
  enum class Precision { kFloat32 = 0, kInt8, kHalf, kBf16 };

  AnalysisConfig(const std::string& prog_file, const std::string& params_file);
  ~AnalysisConfig();

  void DisableGlogInfo();
  void SwitchIrOptim(int x = true);
  void EnableUseGpu(uint64_t memory_pool_init_size_mb, int device_id = 0,
                    Precision precision_mode = Precision::kFloat32);
  void DisableGpu();
  void SetCpuMathLibraryNumThreads(int cpu_math_library_num_threads);
  void EnableMKLDNN();
  void DisableMKLDNN();
  void EnableMkldnnBfloat16();
  void EnableMemoryOptim(bool x = true);
  void EnableTensorRtEngine(int64_t workspace_size = 1 << 30, int max_batch_size = 1, int min_subgraph_size = 3,
                            Precision precision = Precision::kFloat32, bool use_static = false,
                            bool use_calib_mode = true, bool use_cuda_graph = false);
  void SetTRTDynamicShapeInfo(std::map<std::string, std::vector<int>> min_input_shape,
                              std::map<std::string, std::vector<int>> max_input_shape,
                              std::map<std::string, std::vector<int>> optim_input_shape,
                              bool disable_trt_plugin_fp16 = false);

 private:
  char opaque_[1];  // the real class is larger: this header is never used to run anything
};

}  // namespace paddle

namespace paddle_infer {

using Config = paddle::AnalysisConfig;
using PrecisionType = paddle::AnalysisConfig::Precision;

class Tensor {
 public:
  void Reshape(const std::vector<int>& shape);
  template <typename T>
  void CopyFromCpu(const T* data);
  template <typename T>
  void CopyToCpu(T* data) const;
  std::vector<int> shape() const;
};

class Predictor {
 public:
  std::vector<std::string> GetInputNames();
  std::unique_ptr<Tensor> GetInputHandle(const std::string& name);
  bool Run();
  std::vector<std::string> GetOutputNames();
  std::unique_ptr<Tensor> GetOutputHandle(const std::string& name);
};

std::shared_ptr<Predictor> CreatePredictor(const Config& config);

}  // namespace paddle_infer
