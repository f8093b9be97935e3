// YAML values as Python's PyYAML reads them (YAML 1.1 implicit types), so the
// C++ ops accept and refuse exactly the parameters ppcls_hrnet/preprocess/transforms.py does.
#pragma once

#include <array>
#include <string>
#include <utility>

#include <yaml-cpp/yaml.h>

namespace ppcls_hrnet {

enum class YamlKind { kNull, kBool, kInt, kFloat, kStr, kSeq, kMap };

// What PyYAML's SafeLoader would make of the node.
YamlKind KindOf(const YAML::Node& node);
// Python's repr() of what PyYAML would load: 'text', 3, 1.5, True, None, [1, 2], {...} (for messages).
std::string PyReprOf(const YAML::Node& node);

bool BoolValue(const YAML::Node& node);       // kBool only
long long IntValue(const YAML::Node& node);   // kInt only (decimal, 0x, 0o-style 0NN, 0b)
double FloatValue(const YAML::Node& node);    // kInt or kFloat

// transforms.py's parameter checks; each throws ConfigError "OP: bad 'NAME': ..."
bool CheckBool(const std::string& op, const std::string& name, const YAML::Node& value);
int CheckPositiveInt(const std::string& op, const std::string& name, const YAML::Node& value);
std::pair<int, int> CheckSize(const std::string& op, const std::string& name, const YAML::Node& value);  // (w, h)
// A finite float from a number or a string "a" / "a/b" (PaddleClas eval()s these); std::invalid_argument on error.
double ParseFraction(const YAML::Node& value);
std::array<double, 3> CheckTriple(const std::string& op, const std::string& name, const YAML::Node& value,
                                  const std::array<double, 3>& default_value);
std::string ParamError(const std::string& op, const std::string& name, const std::string& problem);

// "; did you mean 'x'?" for the names closest to `name` (difflib-like), or "".
std::string ClosestHint(const std::string& name, const std::vector<std::string>& choices);

}  // namespace ppcls_hrnet
