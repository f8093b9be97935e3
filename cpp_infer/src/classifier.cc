#include "ppcls_hrnet/classifier.h"

#include <chrono>
#include <cstring>
#include <functional>

#include "deploy_config.h"
#include "engine.h"
#include "image_list.h"
#include "postprocess.h"
#include "preprocess.h"

namespace ppcls_hrnet {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

std::string ShapeText(const std::vector<int>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

Pipeline BuildPipeline(const DeployConfig& deploy, bool crop_aware_decode) {
  try {
    return Pipeline(deploy.transform_ops, crop_aware_decode);
  } catch (const ConfigError& e) {
    throw ConfigError(deploy.model_dir + "/" + kDeployFile + ": PreProcess." + e.what());
  }
}

}  // namespace

struct Classifier::Impl {
  DeployConfig deploy;
  Options options;
  Pipeline pipeline;
  std::unique_ptr<Engine> engine;
  std::string auto_precision_note;
  int topk;
  std::vector<std::string> labels;
  std::vector<int> chw;
  StageTimes times;
  std::vector<float> batch, output;

  Impl(const std::string& model_dir, const Options& opts)
      : deploy(ReadDeployConfig(model_dir)), options(opts), pipeline(BuildPipeline(deploy, opts.crop_aware_decode)) {
    chw = {static_cast<int>(deploy.input_shape[1]), static_cast<int>(deploy.input_shape[2]),
           static_cast<int>(deploy.input_shape[3])};
    CheckOutputShape();
    if (options.topk < 0) throw ConfigError("topk must be >= 1, got " + std::to_string(options.topk));
    topk = options.topk > 0 ? options.topk : deploy.topk;
    // a model exported before labels were bundled may have none: ImageNet-1k's for 1000 classes
    if (deploy.label_list && !deploy.label_list->empty())
      labels = *deploy.label_list;
    else if (deploy.class_num == 1000)
      labels = ImageNetLabels();
    EngineChoice choice = CreateEngine(deploy, options);
    engine = std::move(choice.engine);
    options = choice.options;  // precision auto resolved
    auto_precision_note = choice.auto_precision_note;
  }

  // transforms_output_shape() of deploy_contract.py: the ops must make the model's input from any image.
  void CheckOutputShape() {
    const std::string where = deploy.model_dir + "/" + kDeployFile;
    if (pipeline.output_layout() != Layout::kCHW)
      throw ConfigError(where + ": PreProcess.transform_ops end with " + LayoutName(pipeline.output_layout()) +
                        " images but the model takes CHW: end them with ToCHWImage");
    Sample probe;
    try {
      pipeline.RunDecoded(cv::Mat(300, 400, CV_8UC3, cv::Scalar(128, 128, 128)), &probe);
    } catch (const ImageError&) {
      return;  // e.g. a crop larger than the probe: each image is checked when predicted
    }
    std::vector<int> produced = pipeline.OutputShape(probe);
    if (produced != chw)
      throw ConfigError(where + ": PreProcess.transform_ops produce images of shape " + ShapeText(produced) +
                        " (CHW) but input.shape is [-1, " + ShapeText(chw).substr(1) + "; re-export the model");
  }

  // Preprocess every item into the batch buffer, run the engine on the readable ones, top-k.
  std::vector<Prediction> Run(size_t count, const std::function<void(size_t, Sample*)>& produce) {
    std::vector<Prediction> predictions(count);
    auto start = Clock::now();
    const size_t image_size = static_cast<size_t>(chw[0]) * chw[1] * chw[2];
    batch.resize(count * image_size);
    std::vector<size_t> good;
    for (size_t i = 0; i < count; ++i) {
      try {
        Sample sample;
        produce(i, &sample);
        Store(sample, batch.data() + good.size() * image_size);
        good.push_back(i);
      } catch (const ImageError& e) {
        predictions[i].error = e.what();
      }
    }
    times.preprocess_s += Seconds(start);
    times.failures += static_cast<long>(count - good.size());
    if (good.empty()) return predictions;
    start = Clock::now();
    const int n = static_cast<int>(good.size());
    const int classes = engine->Run(batch.data(), n, chw, &output);
    if (!deploy.softmax) SoftmaxRows(output.data(), n, classes);
    times.inference_s += Seconds(start);
    start = Clock::now();
    for (int j = 0; j < n; ++j)
      predictions[good[j]] = TopK(output.data() + static_cast<size_t>(j) * classes, classes, topk, labels);
    times.postprocess_s += Seconds(start);
    times.images += n;
    times.batches += 1;
    return predictions;
  }

  // One preprocessed image into its slot of the float32 batch.
  void Store(const Sample& sample, float* slot) const { pipeline.WriteCHW(sample, chw, slot); }
};

Classifier::Classifier(const std::string& model_dir, const Options& options)
    : impl_(std::make_unique<Impl>(model_dir, options)) {}
Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

std::vector<Prediction> Classifier::Predict(const std::vector<cv::Mat>& images) {
  return impl_->Run(images.size(), [&](size_t i, Sample* sample) { impl_->pipeline.RunDecoded(images[i], sample); });
}

std::vector<Prediction> Classifier::PredictEncoded(const std::vector<std::vector<unsigned char>>& files) {
  return impl_->Run(files.size(), [&](size_t i, Sample* sample) {
    impl_->pipeline.RunEncoded(files[i].data(), files[i].size(), sample);
  });
}

std::vector<Prediction> Classifier::PredictFiles(const std::vector<std::string>& paths) {
  return impl_->Run(paths.size(), [&](size_t i, Sample* sample) {
    std::vector<unsigned char> bytes = ReadImageBytes(paths[i]);
    impl_->pipeline.RunEncoded(bytes.data(), bytes.size(), sample);
  });
}

cv::Mat Classifier::Preprocess(const std::vector<unsigned char>& encoded) const {
  Sample sample;
  impl_->pipeline.RunEncoded(encoded.data(), encoded.size(), &sample);
  cv::Mat planes(static_cast<int>(impl_->chw[0]) * impl_->chw[1], impl_->chw[2], CV_32F);
  impl_->Store(sample, planes.ptr<float>());
  return planes;
}

const std::string& Classifier::model_name() const { return impl_->deploy.model_name; }
const std::string& Classifier::backend() const { return impl_->options.backend; }
const std::string& Classifier::precision() const { return impl_->options.precision; }
const std::string& Classifier::auto_precision_note() const { return impl_->auto_precision_note; }
const std::string& Classifier::model_file() const { return impl_->engine->source(); }
std::vector<int> Classifier::input_shape() const { return impl_->chw; }
int Classifier::topk() const { return impl_->topk; }
const StageTimes& Classifier::times() const { return impl_->times; }
void Classifier::ResetTimes() { impl_->times = StageTimes(); }

}  // namespace ppcls_hrnet
