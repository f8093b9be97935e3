// inference.yml, the deploy contract written beside every exported model
// (ppcls_hrnet/runtime/contract.py): model files, input, softmax, preprocessing, top-k, labels.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace ppcls_hrnet {

constexpr const char* kDeployFile = "inference.yml";

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

  // model_dir/<files[key]> or "" when inference.yml names no such file.
  std::string ModelFile(const std::string& key) const;
};

// Throws ConfigError naming the directory or file and how to fix it.
DeployConfig ReadDeployConfig(const std::string& model_dir);

// The ImageNet-1k names the Python package bundles (ppcls_hrnet/resources/imagenet1k_label_list.txt,
// embedded at build time): what a 1000-class model without a label_list prints.
std::vector<std::string> ImageNetLabels();

}  // namespace ppcls_hrnet
