#include "yaml_values.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <vector>

#include "ppcls_hrnet/classifier.h"

namespace ppcls_hrnet {
namespace {

const std::regex kBool("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
const std::regex kInt(
    "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
const std::regex kFloat(
    "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");
const std::regex kNull("~|null|Null|NULL|");

std::string WithoutUnderscores(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != '_') out += c;
  return out;
}

// Python's float(text) for the strings parse_fraction sees (strip, underscores between digits).
bool PythonFloat(std::string text, double* value) {
  size_t begin = text.find_first_not_of(" \t\n\r\f\v"), end = text.find_last_not_of(" \t\n\r\f\v");
  if (begin == std::string::npos) return false;
  text = text.substr(begin, end - begin + 1);
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string unsigned_part = lower[0] == '+' || lower[0] == '-' ? lower.substr(1) : lower;
  if (unsigned_part == "inf" || unsigned_part == "infinity" || unsigned_part == "nan") {
    *value = unsigned_part == "nan" ? NAN : (lower[0] == '-' ? -INFINITY : INFINITY);
    return true;
  }
  static const std::regex number("[-+]?(?:[0-9](?:_?[0-9])*(?:\\.(?:[0-9](?:_?[0-9])*)?)?|\\.[0-9](?:_?[0-9])*)"
                                 "(?:[eE][-+]?[0-9](?:_?[0-9])*)?");
  if (!std::regex_match(text, number)) return false;
  *value = std::strtod(WithoutUnderscores(text).c_str(), nullptr);
  return true;
}

std::string ExplicitTag(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string prefix = "tag:yaml.org,2002:";
  return tag.compare(0, prefix.size(), prefix) == 0 ? tag.substr(prefix.size()) : "";
}

int LevenshteinDistance(const std::string& a, const std::string& b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

YamlKind KindOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return YamlKind::kNull;
  if (node.IsSequence()) return YamlKind::kSeq;
  if (node.IsMap()) return YamlKind::kMap;
  std::string tag = ExplicitTag(node);
  if (tag == "str") return YamlKind::kStr;
  if (tag == "bool") return YamlKind::kBool;
  if (tag == "int") return YamlKind::kInt;
  if (tag == "float") return YamlKind::kFloat;
  if (tag == "null") return YamlKind::kNull;
  if (node.Tag() != "?") return YamlKind::kStr;  // quoted: always a string
  const std::string& text = node.Scalar();
  if (std::regex_match(text, kNull)) return YamlKind::kNull;
  if (std::regex_match(text, kBool)) return YamlKind::kBool;
  if (std::regex_match(text, kInt)) return YamlKind::kInt;
  if (std::regex_match(text, kFloat)) return YamlKind::kFloat;
  return YamlKind::kStr;
}

bool BoolValue(const YAML::Node& node) {
  char first = node.Scalar().empty() ? 'f' : node.Scalar()[0];
  return first == 'y' || first == 'Y' || first == 't' || first == 'T' ||
         node.Scalar() == "on" || node.Scalar() == "On" || node.Scalar() == "ON";
}

long long IntValue(const YAML::Node& node) {
  std::string text = WithoutUnderscores(node.Scalar());
  bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text = text.substr(1);
  long long value;
  if (text.compare(0, 2, "0b") == 0) {
    value = std::strtoll(text.c_str() + 2, nullptr, 2);
  } else if (text.compare(0, 2, "0x") == 0) {
    value = std::strtoll(text.c_str() + 2, nullptr, 16);
  } else if (text.size() > 1 && text[0] == '0') {
    value = std::strtoll(text.c_str() + 1, nullptr, 8);
  } else if (text.find(':') != std::string::npos) {  // sexagesimal 1:30 = 90
    value = 0;
    std::stringstream parts(text);
    std::string part;
    while (std::getline(parts, part, ':')) value = value * 60 + std::strtoll(part.c_str(), nullptr, 10);
  } else {
    value = std::strtoll(text.c_str(), nullptr, 10);
  }
  return negative ? -value : value;
}

double FloatValue(const YAML::Node& node) {
  if (KindOf(node) == YamlKind::kInt) return static_cast<double>(IntValue(node));
  std::string text = WithoutUnderscores(node.Scalar());
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find(".inf") != std::string::npos) return lower[0] == '-' ? -INFINITY : INFINITY;
  if (lower == ".nan") return NAN;
  if (text.find(':') != std::string::npos) {  // sexagesimal float
    double value = 0;
    std::stringstream parts(text);
    std::string part;
    bool negative = text[0] == '-';
    while (std::getline(parts, part, ':')) value = value * 60 + std::fabs(std::strtod(part.c_str(), nullptr));
    return negative ? -value : value;
  }
  return std::strtod(text.c_str(), nullptr);
}

std::string PyReprOf(const YAML::Node& node) {
  switch (KindOf(node)) {
    case YamlKind::kNull:
      return "None";
    case YamlKind::kBool:
      return BoolValue(node) ? "True" : "False";
    case YamlKind::kInt:
      return std::to_string(IntValue(node));
    case YamlKind::kFloat:
      return node.Scalar();
    case YamlKind::kStr: {
      const std::string& text = node.Scalar();
      char quote = text.find('\'') != std::string::npos && text.find('"') == std::string::npos ? '"' : '\'';
      std::string out(1, quote);
      for (char c : text) {
        if (c == quote || c == '\\') out += '\\';
        out += c;
      }
      return out + quote;
    }
    case YamlKind::kSeq: {
      std::string out = "[";
      for (size_t i = 0; i < node.size(); ++i) out += (i ? ", " : "") + PyReprOf(node[i]);
      return out + "]";
    }
    case YamlKind::kMap: {
      std::string out = "{";
      bool first = true;
      for (const auto& item : node) {
        out += (first ? "" : ", ") + PyReprOf(item.first) + ": " + PyReprOf(item.second);
        first = false;
      }
      return out + "}";
    }
  }
  return "?";
}

std::string ParamError(const std::string& op, const std::string& name, const std::string& problem) {
  return op + ": bad '" + name + "': " + problem;
}

bool CheckBool(const std::string& op, const std::string& name, const YAML::Node& value) {
  if (KindOf(value) != YamlKind::kBool)
    throw ConfigError(ParamError(op, name, "expected true or false, got " + PyReprOf(value)));
  return BoolValue(value);
}

int CheckPositiveInt(const std::string& op, const std::string& name, const YAML::Node& value) {
  if (KindOf(value) != YamlKind::kInt || IntValue(value) <= 0 || IntValue(value) > (1LL << 30))
    throw ConfigError(ParamError(op, name, "expected a positive integer, got " + PyReprOf(value)));
  return static_cast<int>(IntValue(value));
}

std::pair<int, int> CheckSize(const std::string& op, const std::string& name, const YAML::Node& value) {
  if (KindOf(value) == YamlKind::kSeq) {
    if (value.size() != 2)
      throw ConfigError(ParamError(op, name, "expected an integer or [width, height], got " + PyReprOf(value)));
    return {CheckPositiveInt(op, name, value[0]), CheckPositiveInt(op, name, value[1])};
  }
  int side = CheckPositiveInt(op, name, value);
  return {side, side};
}

double ParseFraction(const YAML::Node& value) {
  YamlKind kind = KindOf(value);
  double result;
  if (kind == YamlKind::kInt || kind == YamlKind::kFloat) {
    result = FloatValue(value);
  } else if (kind == YamlKind::kStr) {
    const std::string& text = value.Scalar();
    std::vector<std::string> parts;
    std::stringstream stream(text);
    std::string part;
    size_t slashes = std::count(text.begin(), text.end(), '/');
    if (slashes > 1) throw std::invalid_argument("expected a number or a fraction a/b, got " + PyReprOf(value));
    size_t slash = text.find('/');
    parts.push_back(text.substr(0, slash));
    if (slash != std::string::npos) parts.push_back(text.substr(slash + 1));
    std::vector<double> terms;
    for (const auto& p : parts) {
      double term;
      if (!PythonFloat(p, &term))
        throw std::invalid_argument("expected a number or a fraction a/b, got " + PyReprOf(value));
      terms.push_back(term);
    }
    if (terms.size() == 2 && terms[1] == 0) throw std::invalid_argument("division by zero in " + PyReprOf(value));
    result = terms.size() == 2 ? terms[0] / terms[1] : terms[0];
  } else {
    throw std::invalid_argument("expected a number or a fraction a/b, got " + PyReprOf(value));
  }
  if (!std::isfinite(result)) throw std::invalid_argument("expected a finite number, got " + PyReprOf(value));
  return result;
}

std::array<double, 3> CheckTriple(const std::string& op, const std::string& name, const YAML::Node& value,
                                  const std::array<double, 3>& default_value) {
  if (KindOf(value) == YamlKind::kNull) return default_value;
  if (KindOf(value) != YamlKind::kSeq || value.size() != 3)
    throw ConfigError(
        ParamError(op, name, "expected a list of 3 numbers (one per channel), got " + PyReprOf(value)));
  std::array<double, 3> out{};
  try {
    for (int i = 0; i < 3; ++i) out[i] = ParseFraction(value[i]);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(ParamError(op, name, e.what()));
  }
  return out;
}

std::string ClosestHint(const std::string& name, const std::vector<std::string>& choices) {
  std::vector<std::pair<double, std::string>> scored;
  for (const auto& choice : choices) {
    size_t longest = std::max(name.size(), choice.size());
    double similarity = longest ? 1.0 - static_cast<double>(LevenshteinDistance(name, choice)) / longest : 1.0;
    if (similarity >= 0.5) scored.emplace_back(similarity, choice);
  }
  if (scored.empty()) return "";
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string hint = "; did you mean ";
  for (size_t i = 0; i < scored.size() && i < 3; ++i) hint += (i ? " or '" : "'") + scored[i].second + "'";
  return hint + "?";
}

}  // namespace ppcls_hrnet
