// A runtime behind one small interface: a float32 NCHW batch in, the model's output rows out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "deploy_config.h"
#include "ppcls_hrnet/classifier.h"

namespace ppcls_hrnet {

class Engine {
 public:
  virtual ~Engine() = default;
  // batch: n x chw[0] x chw[1] x chw[2] float32, contiguous. Fills `out` with n rows of the
  // first output (flattened) and returns the row length.
  virtual int Run(const float* batch, int n, const std::vector<int>& chw, std::vector<float>* out) = 0;
  const std::string& source() const { return source_; }  // the model file it runs

 protected:
  std::string source_;
};

// What CreateEngine made: the engine, the options it runs with (precision "auto" replaced by
// what it resolved to: bf16 or fp32), and why auto ran fp32 on a CPU that computes bf16
// (the model's PrecisionCheck), or "" (ppcls_hrnet/runtime/precision.py's refusal text).
struct EngineChoice {
  std::unique_ptr<Engine> engine;
  Options options;
  std::string auto_precision_note;
};

// The backend named in options (checked against what it runs: device, precision), or
// BackendUnavailableError / ConfigError saying why not.
//
// precision "auto" (ppcls_hrnet/runtime/precision.py's rule): on GPU fp32; on CPU bf16 when
// the backend computes bf16 natively here and the model's inference.yml does not rule it out
// (PrecisionCheck.bf16.top1_agreement below kBF16MinAgreement), else fp32. "Natively":
// PPCLS_HRNET_CPU_CAPABILITIES (names such as FP32,BF16,INT8; commas and/or spaces, any case)
// when set, else the backend's answer: OpenVINO's CPU OPTIMIZATION_CAPABILITIES; Paddle
// Inference has no C++ API for it in its SDK, so there it is no (and no without oneDNN).
EngineChoice CreateEngine(const DeployConfig& deploy, const Options& options);

constexpr double kBF16MinAgreement = 0.995;
constexpr const char* kCapabilitiesEnv = "PPCLS_HRNET_CPU_CAPABILITIES";

// Defined by the backends compiled in (openvino_engine.cc, paddle_engine.cc).
std::unique_ptr<Engine> CreateOpenVINOEngine(const DeployConfig& deploy, const Options& options);
std::unique_ptr<Engine> CreatePaddleEngine(const DeployConfig& deploy, const Options& options);
// OpenVINO's CPU OPTIMIZATION_CAPABILITIES ("FP32", "BF16", "INT8", ...); empty if it cannot say.
std::vector<std::string> OpenVINOCPUCapabilities();

// Shared helpers
bool FileExists(const std::string& path);
std::string FirstLine(const std::string& text);

}  // namespace ppcls_hrnet
