// inference.yml, the deploy contract written beside every exported model
// (ppcls_hrnet/runtime/contract.py): model files, input, softmax, preprocessing, top-k, labels,
// and the precision checks `ppcls-hrnet check-precision` records (what --precision auto heeds).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace ppcls_hrnet {

constexpr const char* kDeployFile = "inference.yml";

// One entry of the optional top-level PrecisionCheck section, e.g.
//   PrecisionCheck: {bf16: {top1_agreement: 0.9972, images: 10000, reference: openvino fp32}}
struct PrecisionCheck {
  std::optional<double> top1_agreement;  // share of images whose top-1 class it keeps vs fp32
  std::string images = "?";              // how many, as Python prints the value (for messages)
};

struct DeployConfig {
  std::string model_dir;
  std::string model_name;
  int class_num = 0;
  std::map<std::string, std::string> files;  // pir, legacy, params, onnx, onnx_int8 -> file name
  std::string input_name;
  std::vector<long long> input_shape;  // [-1, C, H, W]
  bool softmax = true;                 // the graph ends with Softmax (else the predictor applies it)
  YAML::Node transform_ops;            // PreProcess.transform_ops, parsed by preprocess.cc
  int topk = 5;
  std::optional<std::vector<std::string>> label_list;
  std::map<std::string, PrecisionCheck> precision_checks;  // PrecisionCheck.<precision>, e.g. "bf16"

  // model_dir/<files[key]> or "" when inference.yml names no such file.
  std::string ModelFile(const std::string& key) const;
};

// Throws ConfigError naming the directory or file and how to fix it.
DeployConfig ReadDeployConfig(const std::string& model_dir);

// The ImageNet-1k names the Python package bundles (ppcls_hrnet/resources/imagenet1k_label_list.txt,
// embedded at build time): what a 1000-class model without a label_list prints.
std::vector<std::string> ImageNetLabels();

}  // namespace ppcls_hrnet
