// The preprocessing ops of inference.yml (PreProcess.transform_ops), one class
// per op, with the parameters and semantics of ppcls_hrnet/preprocess/transforms.py:
//
//   DecodeImage     encoded bytes -> HWC uint8 (cv::imdecode IMREAD_COLOR; to_rgb, channel_first)
//   ResizeImage     resize_short (PaddleClas's rounding) or a fixed [w, h]; cv::resize interpolation
//   CropImage       center crop, offsets (W - w) / 2, (H - h) / 2; an error if the image is smaller
//   NormalizeImage  (x * scale - mean) / std in float32; order '' / hwc / chw; channel_num 3 | 4; output_fp16
//   ToCHWImage      HWC -> CHW
//
// An op name or parameter the Python ops do not accept is a ConfigError naming it;
// a failing image is an ImageError for that image only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <yaml-cpp/yaml.h>

namespace ppcls_hrnet {

enum class Layout { kBytes, kHWC, kCHW };
const char* LayoutName(Layout layout);  // "BYTES", "HWC", "CHW"

// One image between ops.
struct Sample {
  const unsigned char* bytes = nullptr;  // kBytes: the encoded file
  size_t size = 0;
  cv::Mat image;    // kHWC: H x W with C channels; kCHW: C planes stacked, (C * H) x W, one channel
  int planes = 0;   // kCHW: C
  Layout layout = Layout::kBytes;
  // kHWC, 3 channels: the pixels are still in OpenCV's BGR order although the ops so far made them
  // RGB (DecodeImage to_rgb). Resize and crop treat channels alike, so the swap waits until an op
  // that tells channels apart (NormalizeImage, ToCHWImage do it for free; others call ResolveChannelOrder).
  bool swap_pending = false;

  void ResolveChannelOrder();
  int height() const { return layout == Layout::kCHW ? image.rows / planes : image.rows; }
  int width() const { return image.cols; }
  int channels() const { return layout == Layout::kCHW ? planes : image.channels(); }
  std::string Describe() const;  // "a 400x300 image", "an array of shape (3, 32, 32)", "123 bytes of image data"
};

class Op {
 public:
  virtual ~Op() = default;
  virtual const char* name() const = 0;
  virtual std::vector<Layout> accepts() const { return {Layout::kHWC}; }
  virtual Layout OutputLayout(Layout input) const { return input; }  // ConfigError for a wrong layout
  virtual void Apply(Sample& sample) const = 0;                       // ImageError for a bad image
};

// DecodeImage's work after the decoder, for images the caller decoded (BGR, as OpenCV gives them).
void AcceptDecoded(const cv::Mat& bgr, const Op& decode_op, Sample* sample);

// The op registry: name -> accepted params, required params, factory.
struct OpSpec {
  std::vector<std::string> params;
  std::vector<std::string> required;
  std::function<std::unique_ptr<Op>(const YAML::Node& params)> make;
};
const std::map<std::string, OpSpec>& OpRegistry();

class Pipeline {
 public:
  // ConfigError naming transform_ops[i]. crop_aware_decode: when ResizeImage + CropImage follow
  // DecodeImage, a JPEG's unused rows and columns are not decoded (jpeg_region.h; same pixels).
  explicit Pipeline(const YAML::Node& transform_ops, bool crop_aware_decode = true);
  Pipeline(Pipeline&&) = default;
  ~Pipeline();

  bool decodes() const;            // the list starts with DecodeImage
  Layout output_layout() const;
  // Encoded bytes through every op.
  void RunEncoded(const unsigned char* data, size_t size, Sample* out) const;
  // A decoded BGR image through the ops after DecodeImage (all of them when there is none).
  void RunDecoded(const cv::Mat& bgr, Sample* out) const;
  std::string Describe() const;    // "DecodeImage, ResizeImage, ..."

  // A run sample's [C, H, W] and its values as float32 CHW planes into `out` (C * H * W floats);
  // ImageError when that is not `chw`. Ending with NormalizeImage + ToCHWImage, the two are done
  // here in one pass (RunEncoded/RunDecoded stop before them).
  std::vector<int> OutputShape(const Sample& sample) const;
  void WriteCHW(const Sample& sample, const std::vector<int>& chw, float* out) const;

 private:
  void Run(Sample* sample, size_t first_op) const;
  std::vector<std::unique_ptr<Op>> ops_;
  Layout output_layout_;
  size_t run_until_ = 0;               // ops run by Run(); a fused tail is left to WriteCHW
  const Op* fused_normalize_ = nullptr;  // the NormalizeImage of a NormalizeImage + ToCHWImage tail
};

}  // namespace ppcls_hrnet
