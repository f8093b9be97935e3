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

// The backend named in options (checked against what it runs: device, precision), or
// BackendUnavailableError / ConfigError saying why not.
std::unique_ptr<Engine> CreateEngine(const DeployConfig& deploy, const Options& options);

// Defined by the backends compiled in (openvino_engine.cc, paddle_engine.cc).
std::unique_ptr<Engine> CreateOpenVINOEngine(const DeployConfig& deploy, const Options& options);
std::unique_ptr<Engine> CreatePaddleEngine(const DeployConfig& deploy, const Options& options);

// Shared helpers
bool FileExists(const std::string& path);
std::string FirstLine(const std::string& text);

}  // namespace ppcls_hrnet
