// ppcls_hrnet C++ inference: the one public header.
//
//   ppcls_hrnet::Classifier classifier("output/inference");      // reads inference.yml
//   auto results = classifier.Predict({cv::imread("a.jpg")});    // BGR, as OpenCV decodes
//   for (const auto& r : results) if (r.ok()) std::cout << r.class_ids[0] << "\n";
//
// The model directory's inference.yml (written by `ppcls-hrnet export`) gives
// everything: the model files, the input size, the preprocessing ops (the same
// semantics as ppcls_hrnet/preprocess/transforms.py), softmax, top-k and labels.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace ppcls_hrnet {

// Base of every error this library throws; the message says what is wrong and how to fix it.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model directory, its inference.yml or the options cannot be used (nothing can be predicted).
class ConfigError : public Error {
 public:
  using Error::Error;
};

// One image cannot be decoded or preprocessed; the others still can.
class ImageError : public Error {
 public:
  using Error::Error;
};

// A backend or precision this build or machine cannot run.
class BackendUnavailableError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

struct Options {
  std::string backend = "openvino";  // openvino | paddle (a build with -DWITH_PADDLE_INFERENCE=ON)
  // auto | fp32 | bf16 | int8 (OpenVINO: inference_int8.onnx) | fp16 (Paddle GPU). auto: on CPU bf16
  // where the backend computes bf16 natively (OpenVINO: BF16 in the CPU's OPTIMIZATION_CAPABILITIES;
  // $PPCLS_HRNET_CPU_CAPABILITIES replaces that list) unless the model's inference.yml
  // PrecisionCheck.bf16.top1_agreement is below 0.995, else fp32; on GPU fp32. Never int8 or fp16.
  std::string precision = "auto";
  int cpu_threads = 2;
  int topk = 0;  // 0: inference.yml's PostProcess.topk
  // JPEGs: decode only the rows and columns that ResizeImage + CropImage use (identical results;
  // about a third less decoding with PaddleClas's ImageNet ops). false: always decode everything.
  bool crop_aware_decode = true;
  // OpenVINO's compiled-model cache: "default" is $PPCLS_HRNET_HOME/openvino_cache
  // (~/.cache/ppcls_hrnet/openvino_cache), the same folder the Python predictor uses; "" for none.
  std::string openvino_cache_dir = "default";
  // Paddle Inference only
  bool use_gpu = false;
  bool use_tensorrt = false;  // needs use_gpu; fp32 | fp16 | int8, dynamic batch 1..max_batch_size
  bool enable_mkldnn = true;  // oneDNN kernels on CPU
  int gpu_id = 0;
  int gpu_mem_mb = 500;
  int max_batch_size = 8;
};

// Top-k of one image, best first. `error` is set (and the rest empty) when the image failed.
struct Prediction {
  std::vector<int> class_ids;
  std::vector<float> scores;  // probabilities, unrounded
  std::vector<std::string> label_names;  // empty when the model has no label list
  std::string error;
  bool ok() const { return error.empty(); }
};

// Wall time per stage summed over calls (PaddleClas's --benchmark report).
struct StageTimes {
  double preprocess_s = 0, inference_s = 0, postprocess_s = 0;
  long images = 0, batches = 0, failures = 0;
};

class Classifier {
 public:
  // Throws ConfigError (or BackendUnavailableError) when the model cannot be loaded.
  explicit Classifier(const std::string& model_dir, const Options& options = Options());
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  // Decoded images in OpenCV's BGR order (cv::imread, cv::imdecode); gray and BGRA
  // are converted as IMREAD_COLOR does. Runs the ops after DecodeImage.
  std::vector<Prediction> Predict(const std::vector<cv::Mat>& images);

  // Encoded files (their bytes), through the whole op list, DecodeImage first.
  std::vector<Prediction> PredictEncoded(const std::vector<std::vector<unsigned char>>& files);

  // Image files read from disk (reading is part of the preprocess time), one batch.
  std::vector<Prediction> PredictFiles(const std::vector<std::string>& paths);

  // What the model is fed for one encoded image: inference.yml's ops, as a float32 (C * H) x W
  // matrix (CHW planes stacked). ImageError when the image cannot be used.
  cv::Mat Preprocess(const std::vector<unsigned char>& encoded) const;

  const std::string& model_name() const;
  const std::string& backend() const;   // e.g. "openvino"
  const std::string& precision() const;  // what it runs: "auto" resolved to bf16 or fp32
  // Why precision auto runs fp32 although the CPU computes bf16 (the model's PrecisionCheck), or "".
  const std::string& auto_precision_note() const;
  const std::string& model_file() const;  // the file the backend runs
  std::vector<int> input_shape() const;   // [C, H, W]
  int topk() const;
  const StageTimes& times() const;
  void ResetTimes();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Python CLI's line for one prediction (PaddleClas whl's format, scores as
// Python prints round(score, 5)):
//   filename: a.jpg, top-3, class_ids: [3, 1, 0], scores: [0.93, 0.05, 0.00012], label_names: ['Dress', ...]
std::string FormatResult(const std::string& file_name, const Prediction& prediction);

}  // namespace ppcls_hrnet
