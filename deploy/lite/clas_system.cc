// Image classification with a Paddle Lite .nb on ARM (phones, boards) or x86.
//
//   ./clas_system config.txt image.jpg [image2.jpg ...]
//
// config.txt is written by `ppcls-hrnet lite` beside the .nb: PaddleClas's
// deploy/lite keys (clas_model_file, label_path, resize_short_size, crop_size,
// num_threads, batch_size, topk, ...) plus the preprocessing of the model's
// inference.yml (resize_width/height, scale, mean, std, to_rgb,
// apply_softmax). Relative paths in it are relative to the config's folder.
// Written to Paddle Lite's documented C++ API (paddle_api.h: MobileConfig,
// CreatePaddlePredictor, set_threads, set_power_mode, GetInput/GetOutput).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "paddle_api.h"  // NOLINT

using paddle::lite_api::CreatePaddlePredictor;
using paddle::lite_api::MobileConfig;
using paddle::lite_api::PaddlePredictor;
using paddle::lite_api::PowerMode;

namespace {

std::map<std::string, std::string> ReadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config " + path);
  std::map<std::string, std::string> config;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value, rest;
    if (!(words >> key)) continue;
    std::getline(words, rest);
    value = rest.substr(std::min(rest.find_first_not_of(' '), rest.size()));
    config[key] = value;
  }
  return config;
}

std::string Get(const std::map<std::string, std::string>& config, const std::string& key) {
  auto it = config.find(key);
  if (it == config.end()) throw std::runtime_error("config has no key " + key);
  return it->second;
}

int GetInt(const std::map<std::string, std::string>& config, const std::string& key, int fallback) {
  auto it = config.find(key);
  return it == config.end() ? fallback : std::stoi(it->second);
}

std::vector<float> GetFloats(const std::map<std::string, std::string>& config, const std::string& key) {
  std::istringstream words(Get(config, key));
  std::vector<float> values;
  float v;
  while (words >> v) values.push_back(v);
  return values;
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return dir + "/" + path;
}

std::vector<std::string> ReadLabels(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    auto space = line.find(' ');  // "<class id> <name>"
    labels.push_back(space == std::string::npos ? line : line.substr(space + 1));
  }
  return labels;
}

struct Preprocess {
  int resize_short = 0, resize_w = 0, resize_h = 0, crop = 0, width = 0, height = 0;
  bool to_rgb = true;
  float scale = 1.f / 255.f;
  std::vector<float> mean, std;

  // decoded BGR image -> CHW floats written to `out` (3 * height * width)
  void Run(const cv::Mat& bgr, float* out) const {
    cv::Mat img;
    if (to_rgb) cv::cvtColor(bgr, img, cv::COLOR_BGR2RGB); else img = bgr;
    if (resize_short > 0) {
      float ratio = static_cast<float>(resize_short) / std::min(img.cols, img.rows);
      cv::resize(img, img, cv::Size(static_cast<int>(std::round(img.cols * ratio)),
                                    static_cast<int>(std::round(img.rows * ratio))));
    } else if (resize_w > 0 && resize_h > 0) {
      cv::resize(img, img, cv::Size(resize_w, resize_h));
    }
    if (crop > 0) {
      int x = (img.cols - crop) / 2, y = (img.rows - crop) / 2;
      img = img(cv::Rect(x, y, crop, crop)).clone();
    }
    if (img.cols != width || img.rows != height)
      throw std::runtime_error("preprocessed image is " + std::to_string(img.cols) + "x" +
                               std::to_string(img.rows) + ", the model takes " + std::to_string(width) +
                               "x" + std::to_string(height));
    const int plane = width * height;
    for (int y = 0; y < height; ++y) {
      const uint8_t* row = img.ptr<uint8_t>(y);
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c)
          out[c * plane + y * width + x] = (row[x * 3 + c] * scale - mean[c]) / std[c];
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " config.txt image [image ...]" << std::endl;
    return 2;
  }
  try {
    const std::string config_path = argv[1];
    const std::string dir = config_path.find('/') == std::string::npos
                                ? "." : config_path.substr(0, config_path.rfind('/'));
    auto config = ReadConfig(config_path);
    Preprocess pre;
    pre.resize_short = GetInt(config, "resize_short_size", 0);
    pre.resize_w = GetInt(config, "resize_width", 0);
    pre.resize_h = GetInt(config, "resize_height", 0);
    pre.crop = GetInt(config, "crop_size", 0);
    pre.width = GetInt(config, "input_width", pre.crop);
    pre.height = GetInt(config, "input_height", pre.crop);
    pre.to_rgb = GetInt(config, "to_rgb", 1) != 0;
    pre.scale = std::stof(Get(config, "scale"));
    pre.mean = GetFloats(config, "mean");
    pre.std = GetFloats(config, "std");
    const int topk = GetInt(config, "topk", 5);
    const int batch_size = std::max(1, GetInt(config, "batch_size", 1));
    const bool softmax = GetInt(config, "apply_softmax", 0) != 0;
    const bool benchmark = GetInt(config, "enable_benchmark", 0) != 0;
    const auto labels = ReadLabels(Resolve(dir, Get(config, "label_path")));

    MobileConfig mobile;
    mobile.set_model_from_file(Resolve(dir, Get(config, "clas_model_file")));
    mobile.set_threads(GetInt(config, "num_threads", 1));
    mobile.set_power_mode(PowerMode::LITE_POWER_HIGH);
    std::shared_ptr<PaddlePredictor> predictor = CreatePaddlePredictor<MobileConfig>(mobile);

    std::vector<std::string> images(argv + 2, argv + argc);
    for (size_t start = 0; start < images.size(); start += batch_size) {
      const size_t n = std::min(images.size() - start, static_cast<size_t>(batch_size));
      auto input = predictor->GetInput(0);
      input->Resize({static_cast<int64_t>(n), 3, pre.height, pre.width});
      float* data = input->mutable_data<float>();
      for (size_t i = 0; i < n; ++i) {
        cv::Mat bgr = cv::imread(images[start + i], cv::IMREAD_COLOR);
        if (bgr.empty()) throw std::runtime_error("cannot read image " + images[start + i]);
        pre.Run(bgr, data + i * 3 * pre.height * pre.width);
      }
      auto t0 = std::chrono::steady_clock::now();
      predictor->Run();
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      auto output = predictor->GetOutput(0);
      const float* scores = output->data<float>();
      const auto shape = output->shape();
      const int classes = static_cast<int>(shape.back());
      for (size_t i = 0; i < n; ++i) {
        std::vector<float> row(scores + i * classes, scores + (i + 1) * classes);
        if (softmax) {
          float top = *std::max_element(row.begin(), row.end()), sum = 0.f;
          for (float& v : row) sum += (v = std::exp(v - top));
          for (float& v : row) v /= sum;
        }
        std::vector<int> order(classes);
        std::iota(order.begin(), order.end(), 0);
        const int k = std::min(topk, classes);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int a, int b) { return row[a] > row[b]; });
        std::cout << images[start + i] << ":\tclass id(s): [";
        for (int j = 0; j < k; ++j) std::cout << (j ? ", " : "") << order[j];
        std::cout << "], score(s): [";
        for (int j = 0; j < k; ++j) std::cout << (j ? ", " : "") << row[order[j]];
        std::cout << "], label_name(s): [";
        for (int j = 0; j < k; ++j)
          std::cout << (j ? ", " : "") << (order[j] < static_cast<int>(labels.size()) ? labels[order[j]] : "");
        std::cout << "]" << std::endl;
      }
      if (benchmark) std::cout << "batch of " << n << ": " << ms << " ms" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
