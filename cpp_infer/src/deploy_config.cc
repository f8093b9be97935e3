#include "deploy_config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

#include "ppcls_hrnet/classifier.h"
#include "yaml_values.h"

namespace ppcls_hrnet {
namespace {

bool IsDir(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}
bool IsFile(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// node[key] of a mapping, or a std::runtime_error like Python's KeyError / TypeError.
YAML::Node Require(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) throw std::runtime_error("TypeError: expected a mapping with '" + key + "'");
  YAML::Node value = node[key];
  if (!value.IsDefined()) throw std::runtime_error("KeyError: '" + key + "'");
  return value;
}

long long RequireInt(const YAML::Node& node, const std::string& what) {
  YamlKind kind = KindOf(node);
  if (kind == YamlKind::kInt) return IntValue(node);
  if (kind == YamlKind::kFloat) return static_cast<long long>(FloatValue(node));  // Python's int(1.0)
  if (kind == YamlKind::kStr) {  // int("10")
    try {
      size_t used = 0;
      long long value = std::stoll(node.Scalar(), &used);
      if (used == node.Scalar().size()) return value;
    } catch (const std::exception&) {
    }
  }
  throw std::runtime_error("ValueError: " + what + " is not an integer: " + PyReprOf(node));
}

bool Truthy(const YAML::Node& node) {  // Python's bool(value)
  switch (KindOf(node)) {
    case YamlKind::kNull:
      return false;
    case YamlKind::kBool:
      return BoolValue(node);
    case YamlKind::kInt:
    case YamlKind::kFloat:
      return FloatValue(node) != 0;
    case YamlKind::kStr:
      return !node.Scalar().empty();
    default:
      return node.size() != 0;
  }
}

// Python's float(value) for a YAML value: numbers and bools, and strings float() parses.
double PyFloat(const YAML::Node& node) {
  switch (KindOf(node)) {
    case YamlKind::kInt:
    case YamlKind::kFloat:
      return FloatValue(node);
    case YamlKind::kBool:
      return BoolValue(node) ? 1.0 : 0.0;
    case YamlKind::kStr: {
      const std::string& text = node.Scalar();
      size_t begin = text.find_first_not_of(" \t\n\r\f\v"), end = text.find_last_not_of(" \t\n\r\f\v");
      std::string digits = begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
      if (!digits.empty() && digits.find_first_of("xXpP(") == std::string::npos) {  // no C hex floats
        char* stop = nullptr;
        double value = std::strtod(digits.c_str(), &stop);  // out of range: inf or 0.0, as Python
        if (stop == digits.c_str() + digits.size()) return value;
      }
      throw std::runtime_error("ValueError: could not convert string to float: " + PyReprOf(node));
    }
    case YamlKind::kNull:
      throw std::runtime_error("TypeError: float() argument must be a string or a real number, not 'NoneType'");
    case YamlKind::kSeq:
      throw std::runtime_error("TypeError: float() argument must be a string or a real number, not 'list'");
    default:
      throw std::runtime_error("TypeError: float() argument must be a string or a real number, not 'dict'");
  }
}

// PrecisionCheck: {<precision>: {top1_agreement: number, images: ..., reference: ...}}, read as
// contract.py's _precision_checks does (absent or null: no checks; top1_agreement: float(value)).
std::map<std::string, PrecisionCheck> ReadPrecisionChecks(const YAML::Node& section) {
  std::map<std::string, PrecisionCheck> checks;
  if (!section.IsDefined() || section.IsNull()) return checks;
  if (!section.IsMap()) throw std::runtime_error("TypeError: PrecisionCheck is not a mapping");
  for (const auto& item : section) {
    const std::string precision = item.first.IsNull() ? "None" : item.first.as<std::string>();
    const YAML::Node& entry = item.second;
    if (!entry.IsMap()) throw std::runtime_error("TypeError: PrecisionCheck." + precision + " is not a mapping");
    PrecisionCheck check;
    YAML::Node agreement = entry["top1_agreement"];
    if (agreement.IsDefined()) check.top1_agreement = PyFloat(agreement);
    YAML::Node images = entry["images"];
    if (images.IsDefined()) check.images = KindOf(images) == YamlKind::kStr ? images.Scalar() : PyReprOf(images);
    checks[precision] = check;
  }
  return checks;
}

}  // namespace

std::string DeployConfig::ModelFile(const std::string& key) const {
  auto found = files.find(key);
  return found == files.end() || found->second.empty() ? "" : Join(model_dir, found->second);
}

DeployConfig ReadDeployConfig(const std::string& model_dir) {
  std::string path = Join(model_dir, kDeployFile);
  if (!IsDir(model_dir))
    throw ConfigError("inference model directory " + model_dir +
                      " does not exist; export one with `ppcls-hrnet export -c CONFIG`");
  if (!IsFile(path))
    throw ConfigError(model_dir + " has no " + kDeployFile +
                      " (the deploy contract: input size, preprocessing, labels). Re-export the model with "
                      "`ppcls-hrnet export -c CONFIG` to write it");
  DeployConfig deploy;
  deploy.model_dir = model_dir;
  try {
    YAML::Node data = YAML::LoadFile(path);
    deploy.model_name = Require(data, "model_name").as<std::string>();
    deploy.class_num = static_cast<int>(RequireInt(Require(data, "class_num"), "class_num"));
    YAML::Node files = Require(data, "files");
    if (!files.IsMap()) throw std::runtime_error("TypeError: files is not a mapping");
    for (const auto& item : files)
      deploy.files[item.first.as<std::string>()] = item.second.IsNull() ? "" : item.second.as<std::string>();
    YAML::Node input = Require(data, "input");
    deploy.input_name = Require(input, "name").as<std::string>();
    YAML::Node shape = Require(input, "shape");
    if (!shape.IsSequence()) throw std::runtime_error("TypeError: input.shape is not a list");
    for (const auto& dim : shape) deploy.input_shape.push_back(RequireInt(dim, "input.shape"));
    deploy.softmax = Truthy(Require(Require(data, "output"), "softmax"));
    deploy.transform_ops = Require(Require(data, "PreProcess"), "transform_ops");
    YAML::Node post = Require(data, "PostProcess");
    deploy.topk = static_cast<int>(RequireInt(Require(post, "topk"), "PostProcess.topk"));
    YAML::Node labels = post["label_list"];
    if (labels.IsDefined() && !labels.IsNull()) {
      if (!labels.IsSequence()) throw std::runtime_error("TypeError: PostProcess.label_list is not a list");
      std::vector<std::string> names;
      for (const auto& name : labels) names.push_back(name.IsNull() ? "None" : name.as<std::string>());
      deploy.label_list = names;
    }
    deploy.precision_checks = ReadPrecisionChecks(data["PrecisionCheck"]);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + " is not a valid " + kDeployFile + " (YAMLError: " + e.what() +
                      "); re-export the model to rewrite it");
  } catch (const std::runtime_error& e) {
    throw ConfigError(path + " is not a valid " + kDeployFile + " (" + e.what() +
                      "); re-export the model to rewrite it");
  }
  if (deploy.input_shape.size() != 4 || deploy.input_shape[1] <= 0 || deploy.input_shape[2] <= 0 ||
      deploy.input_shape[3] <= 0) {
    std::ostringstream shape;
    for (size_t i = 0; i < deploy.input_shape.size(); ++i) shape << (i ? ", " : "") << deploy.input_shape[i];
    throw ConfigError(path + ": input.shape [" + shape.str() +
                      "] is not [-1, C, H, W] (NCHW with a fixed image size); re-export the model");
  }
  if (deploy.label_list && static_cast<int>(deploy.label_list->size()) != deploy.class_num)
    throw ConfigError(path + ": label_list has " + std::to_string(deploy.label_list->size()) + " names for " +
                      std::to_string(deploy.class_num) + " classes");
  return deploy;
}

}  // namespace ppcls_hrnet
