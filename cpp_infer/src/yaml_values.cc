#include "yaml_values.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <vector>

#include "ppcls_hrnet/classifier.h"
#include "python_format.h"

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

// difflib.SequenceMatcher(None, a, b).ratio() (no junk: the names are short)
void MatchingBlocks(const std::string& a, size_t alo, size_t ahi, const std::string& b, size_t blo, size_t bhi,
                    size_t* matched) {
  size_t best_i = alo, best_j = blo, best_size = 0;
  for (size_t i = alo; i < ahi; ++i)
    for (size_t j = blo; j < bhi; ++j) {
      size_t k = 0;
      while (i + k < ahi && j + k < bhi && a[i + k] == b[j + k]) ++k;
      if (k > best_size) best_i = i, best_j = j, best_size = k;  // first longest, as difflib picks
    }
  if (best_size == 0) return;
  *matched += best_size;
  MatchingBlocks(a, alo, best_i, b, blo, best_j, matched);
  MatchingBlocks(a, best_i + best_size, ahi, b, best_j + best_size, bhi, matched);
}

double SequenceRatio(const std::string& a, const std::string& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t matched = 0;
  MatchingBlocks(a, 0, a.size(), b, 0, b.size(), &matched);
  return 2.0 * static_cast<double>(matched) / static_cast<double>(a.size() + b.size());
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
      return PyFloatRepr(FloatValue(node));
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
  // difflib.get_close_matches(name, choices, n=3, cutoff=0.5): best ratio first
  std::vector<std::pair<double, std::string>> scored;
  for (const auto& choice : choices) {
    double ratio = SequenceRatio(choice, name);  // difflib compares (choice, word)
    if (ratio >= 0.5) scored.emplace_back(ratio, choice);
  }
  if (scored.empty()) return "";
  std::sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x > y; });
  std::string hint = "; did you mean ";
  for (size_t i = 0; i < scored.size() && i < 3; ++i) hint += (i ? " or '" : "'") + scored[i].second + "'";
  return hint + "?";
}

}  // namespace ppcls_hrnet
