#include "python_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "ppcls_hrnet/classifier.h"
#include "postprocess.h"

namespace ppcls_hrnet {
namespace {

struct CodeRange {
  char32_t first, last;
};
const CodeRange kNonPrintable[] = {
#include "unicode_nonprintable.inc"
};

bool IsPrintable(char32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp != 0x7F;
  auto after = std::upper_bound(std::begin(kNonPrintable), std::end(kNonPrintable), cp,
                                [](char32_t value, const CodeRange& range) { return value < range.first; });
  return after == std::begin(kNonPrintable) || cp > std::prev(after)->last;
}

// One code point from UTF-8 at text[*pos]; an invalid byte is returned as itself (0xDC80 + byte,
// Python's surrogateescape) so it prints as an escape.
char32_t NextCodePoint(const std::string& text, size_t* pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(*pos);
  int length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
  if (length == 0 || *pos + length > text.size()) {
    ++*pos;
    return 0xDC00 + lead;
  }
  char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
  for (int i = 1; i < length; ++i) {
    if ((byte(*pos + i) & 0xC0) != 0x80) {
      ++*pos;
      return 0xDC00 + lead;
    }
    cp = (cp << 6) | (byte(*pos + i) & 0x3F);
  }
  *pos += length;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

double PyRound(double x, int ndigits) {
  // CPython's float round(): the exact binary value correctly rounded to ndigits decimals
  // (half to even), read back. glibc's printf and strtod are exact too.
  if (!std::isfinite(x)) return x;
  char text[512];
  std::snprintf(text, sizeof text, "%.*f", ndigits, x);
  return std::strtod(text, nullptr);
}

std::string PyFloatRepr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  // shortest digits that read back to x (C++17 to_chars, like Python's repr), as d.ddde[+-]XX
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, x, std::chars_format::scientific);
  std::string text(buffer, result.ptr);
  std::string sign;
  if (text[0] == '-') {
    sign = "-";
    text = text.substr(1);
  }
  size_t e = text.find('e');
  int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (text[i] != '.') digits += text[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int decpt = exponent + 1;  // digits d1 d2 ... = 0.d1d2... * 10**decpt
  if (x == 0) decpt = 1;
  std::string out;
  if (decpt <= -4 || decpt > 16) {  // Python's repr switches to exponent notation here
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_text;
  } else if (decpt <= 0) {
    out = "0." + std::string(-decpt, '0') + digits;
  } else if (decpt >= static_cast<int>(digits.size())) {
    out = digits + std::string(decpt - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, decpt) + "." + digits.substr(decpt);
  }
  return sign + out;
}

std::string PyStrRepr(const std::string& utf8) {
  bool has_single = utf8.find('\'') != std::string::npos, has_double = utf8.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < utf8.size();) {
    char32_t cp = NextCodePoint(utf8, &pos);
    char escape[16];
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (IsPrintable(cp) && !(cp >= 0xD800 && cp <= 0xDFFF)) {
      AppendUtf8(cp, &out);
    } else {
      if (cp < 0x100)
        std::snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned>(cp));
      else if (cp < 0x10000)
        std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(cp));
      else
        std::snprintf(escape, sizeof escape, "\\U%08x", static_cast<unsigned>(cp));
      out += escape;
    }
  }
  return out + quote;
}

std::string PyIntListRepr(const std::vector<int>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

std::string PyStrListRepr(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + PyStrRepr(values[i]);
  return out + "]";
}

std::string FormatResult(const std::string& file_name, const Prediction& prediction) {
  std::string scores = "[";
  for (size_t i = 0; i < prediction.scores.size(); ++i)
    scores += (i ? ", " : "") + PyFloatRepr(PyRound(static_cast<double>(prediction.scores[i]), kScoreDecimals));
  scores += "]";
  return "filename: " + file_name + ", top-" + std::to_string(prediction.class_ids.size()) +
         ", class_ids: " + PyIntListRepr(prediction.class_ids) + ", scores: " + scores +
         ", label_names: " + PyStrListRepr(prediction.label_names);
}

}  // namespace ppcls_hrnet
