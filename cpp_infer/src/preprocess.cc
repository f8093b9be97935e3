#include "preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image_limits.h"
#include "jpeg_region.h"
#include "ppcls_hrnet/classifier.h"
#include "yaml_values.h"

namespace ppcls_hrnet {
namespace {

// PaddleClas's cv2 interpolation names; none given means bilinear there too.
const std::vector<std::pair<std::string, int>> kInterpolations = {
    {"nearest", cv::INTER_NEAREST}, {"bilinear", cv::INTER_LINEAR}, {"area", cv::INTER_AREA},
    {"bicubic", cv::INTER_CUBIC},   {"lanczos", cv::INTER_LANCZOS4}};

std::string OpenCVMessage(const cv::Exception& e) {
  if (e.err.find("CV_IO_MAX_IMAGE_PIXELS") != std::string::npos)
    return "larger than OpenCV's decoder limit of 2**30 pixels (OPENCV_IO_MAX_IMAGE_PIXELS)";
  std::string message = "OpenCV: " + (e.err.empty() ? std::string(e.what()) : e.err);
  return e.func.empty() ? message : message + " (in " + e.func + ")";
}

std::string ChoiceList(const std::vector<std::string>& choices) {  // Python's repr of a list of str
  std::string out = "[";
  for (size_t i = 0; i < choices.size(); ++i) out += (i ? ", '" : "'") + choices[i] + "'";
  return out + "]";
}

std::string CheckBackend(const std::string& op, const YAML::Node& value) {
  if (KindOf(value) == YamlKind::kNull && !value.IsDefined()) return "cv2";
  std::string text = KindOf(value) == YamlKind::kStr ? value.Scalar() : "";
  std::transform(text.begin(), text.end(), text.begin(), ::tolower);
  if (text != "cv2") throw ConfigError(ParamError(op, "backend", "only 'cv2' is supported, got " + PyReprOf(value)));
  return "cv2";
}

// transform.py's _check_resize: an ImageError unless the output stays within the pixel limit.
void CheckResize(const char* op, int64_t width, int64_t height, int64_t out_w, int64_t out_h,
                 const std::string& cause) {
  if (out_w <= 0 || out_h <= 0)
    throw ImageError(std::string(op) + ": a " + std::to_string(width) + "x" + std::to_string(height) +
                     " image would resize to " + std::to_string(out_w) + "x" + std::to_string(out_h));
  int64_t limit = MaxImagePixels();
  __int128 pixels = static_cast<__int128>(out_w) * out_h;
  if (pixels <= limit) return;
  std::string why;
  if (!cause.empty()) {
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "%.0f",
                  static_cast<double>(std::max(width, height)) / static_cast<double>(std::min(width, height)));
    why = std::string(": its aspect ratio ") + ratio + ":1 is too extreme for " + cause + "; crop or pad the image";
  }
  throw ImageError(std::string(op) + ": resizing this " + std::to_string(width) + "x" + std::to_string(height) +
                   " image to " + std::to_string(out_w) + "x" + std::to_string(out_h) + " would make " +
                   WithThousands(pixels) + " pixels, over the limit of " + WithThousands(limit) + why +
                   " (or raise the limit with " + kMaxImagePixelsEnv + "=N if you have the memory)");
}

float RoundToHalf(float value) {  // numpy's float32 -> float16 -> float32 (round to nearest even)
#if defined(__FLT16_MAX__)
  return static_cast<float>(static_cast<_Float16>(value));
#else
  return static_cast<float>(cv::float16_t(value));
#endif
}

// A reusable output buffer for an op: a fresh 0.5 MB image costs ~150 page faults (~0.2 ms) on
// every image, more than the op's own work. The op's previous output is overwritten, which is fine:
// a sample is stored into the batch before the next image is preprocessed (Classifier is not
// thread-safe, as documented).
class Scratch {
 public:
  cv::Mat Get(int rows, int cols, int type) {
    size_t bytes = static_cast<size_t>(rows) * cols * CV_ELEM_SIZE(type);
    if (bytes > buffer_.size()) buffer_.resize(bytes);
    return cv::Mat(rows, cols, type, buffer_.data());
  }

 private:
  std::vector<unsigned char> buffer_;
};

// ---------------------------------------------------------------- DecodeImage

class DecodeImage : public Op {
 public:
  explicit DecodeImage(const YAML::Node& p) {
    const char* op = name();
    if (p["to_rgb"].IsDefined()) to_rgb_ = CheckBool(op, "to_rgb", p["to_rgb"]);
    if (p["channel_first"].IsDefined()) channel_first_ = CheckBool(op, "channel_first", p["channel_first"]);
    // Accepted for PaddleClas configs; only their default is meaningful here.
    if (p["to_np"].IsDefined() && !(KindOf(p["to_np"]) == YamlKind::kBool && BoolValue(p["to_np"])))
      throw ConfigError(ParamError(op, "to_np", "expected one of [True], got " + PyReprOf(p["to_np"])));
    if (p["backend"].IsDefined()) CheckBackend(op, p["backend"]);
  }
  const char* name() const override { return "DecodeImage"; }
  std::vector<Layout> accepts() const override { return {Layout::kBytes}; }
  Layout OutputLayout(Layout) const override { return channel_first_ ? Layout::kCHW : Layout::kHWC; }

  void Apply(Sample& s) const override {
    if (s.size == 0) throw ImageError("empty image file");
    auto size = ImageSizeFromHeader(s.bytes, s.size);
    if (size) {  // refused before the decoder allocates it
      std::string error = OverLimitMessage(size->first, size->second, "image is");
      if (!error.empty()) throw ImageError(error);
    }
    cv::Mat image;
    if (size && needed_region_) {  // a JPEG whose resize + crop use only part of it
      cv::Rect region = needed_region_(static_cast<int>(size->first), static_cast<int>(size->second));
      if (!region.empty())  // into the reusable buffer (the region decoder says when it did not work)
        image = scratch_.Get(static_cast<int>(size->second), static_cast<int>(size->first), CV_8UC3);
      if (!region.empty() && DecodeJpegRegion(s.bytes, s.size, region, &image)) {
        Finish(image, s);
        return;
      }
    }
    const std::string bytes = std::to_string(s.size) + " bytes";
    try {
      // Not into the scratch buffer: with no decoder for the format (GIF and AVIF in Debian's OpenCV
      // 4.6), imdecode(buf, flags, &dst) returns dst unchanged, stale pixels that look decoded.
      image = cv::imdecode(cv::Mat(1, static_cast<int>(s.size), CV_8U, const_cast<unsigned char*>(s.bytes)),
                           cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
      throw ImageError("not a decodable image (" + bytes + "): " + OpenCVMessage(e));
    }
    if (image.empty() || image.type() != CV_8UC3) throw ImageError("not a decodable image (" + bytes + ")");
    Finish(image, s);
  }

  bool channel_first() const { return channel_first_; }
  // Set by the Pipeline when ResizeImage + CropImage follow: (width, height) -> the source pixels they
  // use, or an empty rect to decode everything.
  std::function<cv::Rect(int, int)> needed_region_;

  // Everything after the decoder: the limit for formats whose header we do not read, channel order, layout.
  void Finish(const cv::Mat& bgr, Sample& s) const {
    std::string error = OverLimitMessage(bgr.cols, bgr.rows, "image is");
    if (!error.empty()) throw ImageError(error);
    s.image = bgr;
    s.layout = Layout::kHWC;
    s.swap_pending = to_rgb_;  // BGR -> RGB, done by the first op that tells channels apart
    s.bytes = nullptr;
    s.size = 0;
    if (channel_first_) {
      s.ResolveChannelOrder();
      cv::Mat planes(3 * bgr.rows, bgr.cols, CV_8U);
      std::vector<cv::Mat> outs;
      for (int c = 0; c < 3; ++c) outs.push_back(planes.rowRange(c * bgr.rows, (c + 1) * bgr.rows));
      const int from_to[] = {0, 0, 1, 1, 2, 2};
      cv::mixChannels(&s.image, 1, outs.data(), 3, from_to, 3);
      s.image = planes;
      s.planes = 3;
      s.layout = Layout::kCHW;
    }
  }

 private:
  bool to_rgb_ = true;
  bool channel_first_ = false;
  mutable Scratch scratch_;
};

// ---------------------------------------------------------------- ResizeImage

class ResizeImage : public Op {
 public:
  explicit ResizeImage(const YAML::Node& p) {
    const char* op = name();
    bool has_size = KindOf(p["size"]) != YamlKind::kNull, has_short = KindOf(p["resize_short"]) != YamlKind::kNull;
    if (has_size == has_short) throw ConfigError(std::string(op) + ": give exactly one of 'resize_short' or 'size'");
    if (has_short) resize_short_ = CheckPositiveInt(op, "resize_short", p["resize_short"]);
    if (has_size) size_ = CheckSize(op, "size", p["size"]);
    YAML::Node interpolation = p["interpolation"];
    if (KindOf(interpolation) != YamlKind::kNull) {
      std::string text = KindOf(interpolation) == YamlKind::kStr ? interpolation.Scalar() : std::string("\x01");
      std::transform(text.begin(), text.end(), text.begin(), ::tolower);
      auto found = std::find_if(kInterpolations.begin(), kInterpolations.end(),
                                [&](const auto& item) { return item.first == text; });
      if (found == kInterpolations.end()) {
        std::vector<std::string> names;
        for (const auto& item : kInterpolations) names.push_back(item.first);
        throw ConfigError(ParamError(op, "interpolation",
                                     "expected one of " + ChoiceList(names) + ", got " + PyReprOf(interpolation)));
      }
      flag_ = found->second;
    }
    if (p["backend"].IsDefined()) CheckBackend(op, p["backend"]);
  }
  const char* name() const override { return "ResizeImage"; }
  int flag() const { return flag_; }

  // (width, height) after resizing, rounded as PaddleClas does: int(round(w * percent)), halves to even.
  std::pair<int64_t, int64_t> Target(int64_t width, int64_t height) const {
    if (resize_short_ <= 0) return size_;
    double percent = static_cast<double>(resize_short_) / static_cast<double>(std::min(width, height));
    return {static_cast<int64_t>(std::nearbyint(static_cast<double>(width) * percent)),
            static_cast<int64_t>(std::nearbyint(static_cast<double>(height) * percent))};
  }

  void Apply(Sample& s) const override {
    int64_t height = s.height(), width = s.width();
    if (height <= 0 || width <= 0) throw ImageError("ResizeImage got an empty image");
    auto [out_w, out_h] = Target(width, height);
    CheckResize("ResizeImage", width, height, out_w, out_h,
                resize_short_ > 0 ? "resize_short " + std::to_string(resize_short_) : "");
    cv::Mat out = scratch_.Get(static_cast<int>(out_h), static_cast<int>(out_w), s.image.type());
    cv::resize(s.image, out, out.size(), 0, 0, flag_);
    s.image = out;  // channels are resized alike: a pending swap stays pending
  }

 private:
  int resize_short_ = 0;
  std::pair<int, int> size_{0, 0};  // (w, h)
  int flag_ = cv::INTER_LINEAR;
  mutable Scratch scratch_;
};

// ---------------------------------------------------------------- CropImage

class CropImage : public Op {
 public:
  explicit CropImage(const YAML::Node& p) : size_(CheckSize(name(), "size", p["size"])) {}
  const char* name() const override { return "CropImage"; }
  std::pair<int, int> size() const { return size_; }

  void Apply(Sample& s) const override {
    int height = s.height(), width = s.width();
    auto [crop_w, crop_h] = size_;
    if (crop_w > width || crop_h > height)
      throw ImageError("image " + std::to_string(width) + "x" + std::to_string(height) + " is smaller than the crop " +
                       std::to_string(crop_w) + "x" + std::to_string(crop_h) +
                       " (resize it first, e.g. ResizeImage resize_short)");
    s.image = s.image(cv::Rect((width - crop_w) / 2, (height - crop_h) / 2, crop_w, crop_h));
  }

 private:
  std::pair<int, int> size_;
};

// ---------------------------------------------------------------- NormalizeImage

class NormalizeImage : public Op {
 public:
  explicit NormalizeImage(const YAML::Node& p) {
    const char* op = name();
    if (KindOf(p["scale"]) != YamlKind::kNull) {
      try {
        scale_ = ParseFraction(p["scale"]);
      } catch (const std::invalid_argument& e) {
        throw ConfigError(ParamError(op, "scale", e.what()));
      }
    }
    mean_ = CheckTriple(op, "mean", p["mean"], {0.485, 0.456, 0.406});
    std_ = CheckTriple(op, "std", p["std"], {0.229, 0.224, 0.225});
    if (std::find(std_.begin(), std_.end(), 0.0) != std_.end())
      throw ConfigError(ParamError(op, "std", "must not contain 0, got " + PyReprOf(p["std"])));
    if (p["order"].IsDefined()) {
      YAML::Node order = p["order"];
      std::string text = KindOf(order) == YamlKind::kStr ? order.Scalar() : std::string("\x01");
      if (text != "" && text != "hwc" && text != "chw")
        throw ConfigError(ParamError(op, "order", "expected one of ['', 'hwc', 'chw'], got " + PyReprOf(order)));
      order_ = text;
    }
    if (p["channel_num"].IsDefined()) {
      YAML::Node value = p["channel_num"];
      YamlKind kind = KindOf(value);
      double number = kind == YamlKind::kInt || kind == YamlKind::kFloat ? FloatValue(value) : 0;
      if (number != 3 && number != 4)
        throw ConfigError(ParamError(op, "channel_num", "expected one of [3, 4], got " + PyReprOf(value)));
      channel_num_ = static_cast<int>(number);
    }
    if (p["output_fp16"].IsDefined()) output_fp16_ = CheckBool(op, "output_fp16", p["output_fp16"]);
    // float32 arithmetic as numpy does it: (x * float32(scale) - float32(mean)) / float32(std)
    scale_f_ = static_cast<float>(scale_);
    for (int c = 0; c < 3; ++c) {
      mean_f_[c] = static_cast<float>(mean_[c]);
      std_f_[c] = static_cast<float>(std_[c]);
      for (int v = 0; v < 256; ++v) lut_[c][v] = Normalize(static_cast<float>(v), c);
    }
  }
  const char* name() const override { return "NormalizeImage"; }
  std::vector<Layout> accepts() const override { return {Layout::kHWC, Layout::kCHW}; }
  Layout OutputLayout(Layout input) const override {
    Layout expected = order_ == "chw" ? Layout::kCHW : Layout::kHWC;
    if (input != expected)
      throw ConfigError(std::string("NormalizeImage(order='") + order_ + "') expects " + LayoutName(expected) +
                        " input but receives " + LayoutName(input) + "; set " +
                        (input == Layout::kHWC ? "order: ''" : "order: chw"));
    return input;
  }

  Layout input_layout() const { return order_ == "chw" ? Layout::kCHW : Layout::kHWC; }
  int channel_num() const { return channel_num_; }

  // This op followed by ToCHWImage, written straight into `planes` (channel_num x H x W floats):
  // the same values without the two intermediate images.
  void WritePlanes(const Sample& s, float* planes) const {
    CheckChannels(s);
    const int height = s.height(), width = s.width();
    const size_t plane = static_cast<size_t>(height) * width;
    const int src[3] = {s.swap_pending ? 2 : 0, 1, s.swap_pending ? 0 : 2};  // output channel c reads src[c]
    cv::Mat converted;
    if (s.image.depth() != CV_8U) s.image.convertTo(converted, CV_32F);
    for (int y = 0; y < height; ++y) {
      float* o0 = planes + static_cast<size_t>(y) * width;
      float* o1 = o0 + plane;
      float* o2 = o1 + plane;
      if (converted.empty()) {
        const unsigned char* in = s.image.ptr<unsigned char>(y);
        for (int x = 0; x < width; ++x, in += 3) {
          o0[x] = lut_[0][in[src[0]]];
          o1[x] = lut_[1][in[src[1]]];
          o2[x] = lut_[2][in[src[2]]];
        }
      } else {
        const float* in = converted.ptr<float>(y);
        for (int x = 0; x < width; ++x, in += 3) {
          o0[x] = Normalize(in[src[0]], 0);
          o1[x] = Normalize(in[src[1]], 1);
          o2[x] = Normalize(in[src[2]], 2);
        }
      }
    }
    if (channel_num_ == 4) std::fill(planes + 3 * plane, planes + 4 * plane, 0.f);
  }

  void Apply(Sample& s) const override {
    CheckChannels(s);
    if (s.layout == Layout::kHWC)
      ApplyHWC(s);
    else
      ApplyCHW(s);
    s.swap_pending = false;
  }

 private:
  void CheckChannels(const Sample& s) const {
    if (s.channels() != 3) {
      std::ostringstream shape;
      if (s.layout == Layout::kCHW)
        shape << "(" << s.planes << ", " << s.height() << ", " << s.width() << ")";
      else
        shape << "(" << s.height() << ", " << s.width() << ", " << s.image.channels() << ")";
      throw ImageError(std::string("NormalizeImage(order='") + order_ + "') expects a 3-channel " +
                       (order_ == "chw" ? "CHW" : "HWC") + " image, got shape " + shape.str());
    }
  }

  float Normalize(float x, int c) const {
    float value = (x * scale_f_ - mean_f_[c]) / std_f_[c];
    return output_fp16_ ? RoundToHalf(value) : value;
  }

  void ApplyHWC(Sample& s) const {
    const int height = s.height(), width = s.width(), out_cn = channel_num_;
    const int src[3] = {s.swap_pending ? 2 : 0, 1, s.swap_pending ? 0 : 2};  // output channel c reads src[c]
    cv::Mat out(height, width, CV_32FC(out_cn));
    if (s.image.depth() == CV_8U) {  // one table lookup per value: exactly the float32 formula
      for (int y = 0; y < height; ++y) {
        const unsigned char* in = s.image.ptr<unsigned char>(y);
        float* o = out.ptr<float>(y);
        for (int x = 0; x < width; ++x, in += 3, o += out_cn) {
          o[0] = lut_[0][in[src[0]]];
          o[1] = lut_[1][in[src[1]]];
          o[2] = lut_[2][in[src[2]]];
          if (out_cn == 4) o[3] = 0.f;
        }
      }
    } else {
      cv::Mat in;
      s.image.convertTo(in, CV_32F);
      for (int y = 0; y < height; ++y) {
        const float* i = in.ptr<float>(y);
        float* o = out.ptr<float>(y);
        for (int x = 0; x < width; ++x, i += 3, o += out_cn) {
          for (int c = 0; c < 3; ++c) o[c] = Normalize(i[src[c]], c);
          if (out_cn == 4) o[3] = 0.f;
        }
      }
    }
    s.image = out;
  }

  void ApplyCHW(Sample& s) const {
    const int height = s.height(), width = s.width();
    cv::Mat in;
    s.image.convertTo(in, CV_32F);
    cv::Mat out(channel_num_ * height, width, CV_32F, cv::Scalar(0));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < height; ++y) {
        const float* i = in.ptr<float>(c * height + y);
        float* o = out.ptr<float>(c * height + y);
        for (int x = 0; x < width; ++x) o[x] = Normalize(i[x], c);
      }
    s.image = out;
    s.planes = channel_num_;
  }

  double scale_ = 1.0 / 255.0;
  std::array<double, 3> mean_{}, std_{};
  std::string order_ = "chw";  // PaddleClas's default
  int channel_num_ = 3;
  bool output_fp16_ = false;
  float scale_f_;
  float mean_f_[3], std_f_[3];
  float lut_[3][256];
};

// ---------------------------------------------------------------- ToCHWImage

class ToCHWImage : public Op {
 public:
  explicit ToCHWImage(const YAML::Node&) {}
  const char* name() const override { return "ToCHWImage"; }
  Layout OutputLayout(Layout) const override { return Layout::kCHW; }

  void Apply(Sample& s) const override {
    const int height = s.height(), channels = s.image.channels();
    if (s.swap_pending && channels != 3) s.ResolveChannelOrder();
    cv::Mat planes(channels * height, s.width(), s.image.depth());
    std::vector<cv::Mat> outs;
    std::vector<int> from_to;
    for (int c = 0; c < channels; ++c) {
      outs.push_back(planes.rowRange(c * height, (c + 1) * height));
      from_to.push_back(s.swap_pending ? channels - 1 - c : c);  // plane c of RGB is channel 2 - c of BGR
      from_to.push_back(c);
    }
    cv::mixChannels(&s.image, 1, outs.data(), channels, from_to.data(), channels);
    s.image = planes;
    s.planes = channels;
    s.layout = Layout::kCHW;
    s.swap_pending = false;
  }
};

// Source pixels [lo, hi) that decide outputs [offset, offset + length) of a resize from `source` to
// `target` pixels: the sampled span, the kernel's reach (area: the whole box) and a safety margin
// (libjpeg's column crop may differ from a full decode within a few pixels of its edge).
std::pair<int, int> SourceSpan(int source, int64_t target, int offset, int length, int flag) {
  const double scale = static_cast<double>(source) / static_cast<double>(target);
  const int reach = (flag == cv::INTER_LANCZOS4 ? 4 : flag == cv::INTER_CUBIC ? 2 : 1) +
                    static_cast<int>(std::ceil(scale)) + 32;
  int lo = static_cast<int>(std::floor(offset * scale)) - reach;
  int hi = static_cast<int>(std::ceil((offset + length) * scale)) + reach;
  return {std::max(lo, 0), std::min(hi, source)};
}

cv::Rect CropRegion(const ResizeImage& resize, const CropImage& crop, int width, int height) {
  if (width < 64 || height < 64) return {};
  auto [out_w, out_h] = resize.Target(width, height);
  auto [crop_w, crop_h] = crop.size();
  if (out_w < crop_w || out_h < crop_h || out_w > (1 << 30) || out_h > (1 << 30)) return {};  // fails later
  auto [x0, x1] = SourceSpan(width, out_w, static_cast<int>((out_w - crop_w) / 2), crop_w, resize.flag());
  auto [y0, y1] = SourceSpan(height, out_h, static_cast<int>((out_h - crop_h) / 2), crop_h, resize.flag());
  cv::Rect region(x0, y0, x1 - x0, y1 - y0);
  // decoding a region costs a little more per pixel: not worth it for most of the image
  if (static_cast<double>(region.area()) > 0.85 * width * height) return {};
  return region;
}

template <typename T>
std::function<std::unique_ptr<Op>(const YAML::Node&)> Factory() {
  return [](const YAML::Node& params) { return std::unique_ptr<Op>(new T(params)); };
}

// Train-time ops of transforms.py that have no place in a deploy pipeline.
const std::vector<std::string> kRandomOps = {"RandCropImage", "RandFlipImage"};

std::string OpNames() {
  std::string names;
  for (const auto& item : OpRegistry()) names += (names.empty() ? "" : ", ") + item.first;
  return names;
}

}  // namespace

const char* LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kBytes:
      return "BYTES";
    case Layout::kHWC:
      return "HWC";
    default:
      return "CHW";
  }
}

void Sample::ResolveChannelOrder() {
  if (!swap_pending) return;
  cv::Mat rgb;  // never in place: the image may be the caller's
  cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB);
  image = rgb;
  swap_pending = false;
}

std::string Sample::Describe() const {
  std::ostringstream out;
  if (layout == Layout::kBytes)
    out << size << " bytes of image data";
  else if (layout == Layout::kHWC && image.channels() <= 4)
    out << "a " << width() << "x" << height() << " image";
  else if (layout == Layout::kHWC)
    out << "an array of shape (" << height() << ", " << width() << ", " << image.channels() << ")";
  else
    out << "an array of shape (" << planes << ", " << height() << ", " << width() << ")";
  return out.str();
}

const std::map<std::string, OpSpec>& OpRegistry() {
  static const std::map<std::string, OpSpec> registry = {
      {"DecodeImage", {{"to_rgb", "channel_first", "to_np", "backend"}, {}, Factory<DecodeImage>()}},
      {"ResizeImage", {{"size", "resize_short", "interpolation", "backend"}, {}, Factory<ResizeImage>()}},
      {"CropImage", {{"size"}, {"size"}, Factory<CropImage>()}},
      {"NormalizeImage",
       {{"scale", "mean", "std", "order", "channel_num", "output_fp16"}, {}, Factory<NormalizeImage>()}},
      {"ToCHWImage", {{}, {}, Factory<ToCHWImage>()}},
  };
  return registry;
}

void AcceptDecoded(const cv::Mat& image, const Op& decode_op, Sample* sample) {
  if (image.empty()) throw ImageError("empty image (cv::Mat with no pixels)");
  if (image.depth() != CV_8U || image.dims != 2)
    throw ImageError("expected an 8-bit image (CV_8UC1/3/4, as cv::imread gives), got type " +
                     cv::typeToString(image.type()));
  cv::Mat bgr = image;
  if (image.channels() == 1)  // what IMREAD_COLOR makes of gray and BGRA images
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
  else if (image.channels() == 4)
    cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  else if (image.channels() != 3)
    throw ImageError("expected 1, 3 or 4 channels, got " + std::to_string(image.channels()));
  static_cast<const DecodeImage&>(decode_op).Finish(bgr, *sample);
}

Pipeline::Pipeline(const YAML::Node& transform_ops, bool crop_aware_decode) {
  if (!transform_ops.IsSequence())
    throw ConfigError("transform_ops must be a list of ops, got " + PyReprOf(transform_ops));
  for (size_t index = 0; index < transform_ops.size(); ++index) {
    const std::string where = "transform_ops[" + std::to_string(index) + "]";
    YAML::Node entry = transform_ops[index];
    std::string name;
    YAML::Node params;
    if (KindOf(entry) == YamlKind::kStr) {
      name = entry.Scalar();
    } else if (entry.IsMap() && entry.size() == 1) {
      name = entry.begin()->first.as<std::string>();
      params = entry.begin()->second;
    } else {
      throw ConfigError(where + ": expected a single-key mapping like {ResizeImage: {resize_short: 256}}, got " +
                        PyReprOf(entry));
    }
    auto found = OpRegistry().find(name);
    if (found == OpRegistry().end()) {
      if (std::find(kRandomOps.begin(), kRandomOps.end(), name) != kRandomOps.end())
        throw ConfigError(where + ": " + name + " is a random training op, not a deploy one (the C++ predictor "
                          "runs " + OpNames() + ")");
      std::vector<std::string> names;
      for (const auto& item : OpRegistry()) names.push_back(item.first);
      throw ConfigError(where + ": unknown transform op '" + name + "'" + ClosestHint(name, names) +
                        " (supported: " + OpNames() + ")");
    }
    const OpSpec& spec = found->second;
    if (KindOf(params) != YamlKind::kNull && !params.IsMap())
      throw ConfigError(where + " " + name + ": expected a mapping of params, got " + PyReprOf(params));
    if (params.IsMap()) {
      for (const auto& item : params) {
        std::string key = item.first.as<std::string>();
        if (std::find(spec.params.begin(), spec.params.end(), key) == spec.params.end()) {
          std::string accepted;
          for (const auto& p : spec.params) accepted += (accepted.empty() ? "" : ", ") + p;
          throw ConfigError(where + " " + name + ": unknown param '" + key + "'" + ClosestHint(key, spec.params) +
                            " (accepted: " + (accepted.empty() ? "none" : accepted) + ")");
        }
      }
    }
    for (const auto& key : spec.required)
      if (!params.IsMap() || !params[key].IsDefined())
        throw ConfigError(where + " " + name + ": missing required param '" + key + "'");
    try {
      ops_.push_back(spec.make(params.IsMap() ? params : YAML::Node(YAML::NodeType::Map)));
    } catch (const ConfigError& e) {
      throw ConfigError(where + " " + e.what());
    }
  }
  // Compose._check_layouts: without DecodeImage the caller hands in decoded HWC images.
  Layout layout = decodes() ? Layout::kBytes : Layout::kHWC;
  for (size_t index = 0; index < ops_.size(); ++index) {
    const Op& op = *ops_[index];
    auto accepted = op.accepts();
    if (std::find(accepted.begin(), accepted.end(), layout) == accepted.end()) {
      const char* hint = layout == Layout::kBytes ? "put DecodeImage first"
                         : layout == Layout::kHWC ? "DecodeImage must be the first op"
                                                  : "it needs HWC: use DecodeImage channel_first: False and put "
                                                    "ToCHWImage last";
      throw ConfigError("transform_ops[" + std::to_string(index) + "] " + op.name() + " cannot take " +
                        LayoutName(layout) + " input (" + hint + ")");
    }
    layout = op.OutputLayout(layout);
  }
  output_layout_ = layout;
  run_until_ = ops_.size();
  if (ops_.size() >= 2 && std::string(ops_.back()->name()) == "ToCHWImage") {
    auto* normalize = dynamic_cast<const NormalizeImage*>(ops_[ops_.size() - 2].get());
    if (normalize && normalize->input_layout() == Layout::kHWC) {  // Normalize(HWC) + ToCHW: written in one pass
      fused_normalize_ = normalize;  // (an Op* here: the class is private to this file)
      run_until_ = ops_.size() - 2;
    }
  }
  if (crop_aware_decode && JpegRegionDecodeAvailable() && ops_.size() >= 3) {
    auto* decode = dynamic_cast<DecodeImage*>(ops_[0].get());
    auto* resize = dynamic_cast<const ResizeImage*>(ops_[1].get());
    auto* crop = dynamic_cast<const CropImage*>(ops_[2].get());
    if (decode && !decode->channel_first() && resize && crop)
      decode->needed_region_ = [resize, crop](int width, int height) {
        return CropRegion(*resize, *crop, width, height);
      };
  }
  MaxImagePixels();  // a bad PPCLS_HRNET_MAX_IMAGE_PIXELS fails here, not on every image
}

Pipeline::~Pipeline() = default;

bool Pipeline::decodes() const { return !ops_.empty() && std::string(ops_[0]->name()) == "DecodeImage"; }

Layout Pipeline::output_layout() const { return output_layout_; }

std::string Pipeline::Describe() const {
  std::string out;
  for (const auto& op : ops_) out += (out.empty() ? "" : ", ") + std::string(op->name());
  return out;
}

void Pipeline::RunEncoded(const unsigned char* data, size_t size, Sample* out) const {
  if (!decodes())
    throw ConfigError("transform_ops do not start with DecodeImage, so they cannot read image files; "
                      "put DecodeImage first");
  *out = Sample();
  out->bytes = data;
  out->size = size;
  out->layout = Layout::kBytes;
  Run(out, 0);
}

void Pipeline::RunDecoded(const cv::Mat& bgr, Sample* out) const {
  *out = Sample();
  if (decodes()) {
    try {
      AcceptDecoded(bgr, *ops_[0], out);
    } catch (const cv::Exception& e) {
      throw ImageError("DecodeImage failed on a " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) +
                       " image: " + OpenCVMessage(e));
    }
  } else {
    out->image = bgr;
    out->layout = Layout::kHWC;
  }
  Run(out, decodes() ? 1 : 0);
}

void Pipeline::Run(Sample* sample, size_t first_op) const {
  for (size_t i = first_op; i < run_until_; ++i) {
    const Op& op = *ops_[i];
    try {
      op.Apply(*sample);
    } catch (const cv::Exception& e) {  // an image the op's checks let through
      throw ImageError(std::string(op.name()) + " failed on " + sample->Describe() + ": " + OpenCVMessage(e));
    } catch (const std::bad_alloc&) {
      throw ImageError(std::string(op.name()) + " ran out of memory on " + sample->Describe() + " (lower " +
                       kMaxImagePixelsEnv + ", now " + WithThousands(MaxImagePixels()) + " pixels)");
    }
  }
  if (!fused_normalize_) sample->ResolveChannelOrder();
}

std::vector<int> Pipeline::OutputShape(const Sample& sample) const {
  if (fused_normalize_)
    return {static_cast<const NormalizeImage*>(fused_normalize_)->channel_num(), sample.height(), sample.width()};
  return {sample.channels(), sample.height(), sample.width()};
}

void Pipeline::WriteCHW(const Sample& sample, const std::vector<int>& chw, float* out) const {
  std::vector<int> shape = OutputShape(sample);
  Layout layout = fused_normalize_ ? Layout::kCHW : sample.layout;
  if (layout != Layout::kCHW || shape != chw) {
    auto text = [](const std::vector<int>& dims) {
      return "[" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " + std::to_string(dims[2]) + "]";
    };
    throw ImageError("preprocessed to " + text(shape) + " (" + LayoutName(layout) + ") but the model takes " +
                     text(chw) + " (CHW)");
  }
  try {
    if (fused_normalize_) {
      static_cast<const NormalizeImage*>(fused_normalize_)->WritePlanes(sample, out);
      return;
    }
    cv::Mat target(sample.image.rows, sample.image.cols, CV_32F, out);
    if (sample.image.type() == CV_32F)
      sample.image.copyTo(target);
    else
      sample.image.convertTo(target, CV_32F);
  } catch (const cv::Exception& e) {
    throw ImageError("NormalizeImage failed on " + sample.Describe() + ": " + OpenCVMessage(e));
  }
}

}  // namespace ppcls_hrnet
