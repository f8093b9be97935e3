#include "image_limits.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ppcls_hrnet/classifier.h"

namespace ppcls_hrnet {
namespace {

std::string Strip(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// Python's int(text) for a decimal integer (sign, digits, single underscores between digits).
bool ParsePythonInt(const std::string& text, int64_t* value) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i >= text.size()) return false;
  long double result = 0;
  bool digit_before = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_' && digit_before && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
      digit_before = false;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    result = result * 10 + (c - '0');
    digit_before = true;
  }
  if (negative) result = -result;
  // a limit above int64 is no limit at all
  const long double max = static_cast<long double>(std::numeric_limits<int64_t>::max());
  *value = result >= max ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(result);
  return true;
}

// Python's int(float(text)): ValueError/OverflowError -> false.
bool ParsePythonFloatInt(const std::string& text, int64_t* value) {
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {  // float() accepts "1_000.5"
    if (text[i] == '_' && i > 0 && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(text[i + 1])))
      continue;
    digits += text[i];
  }
  if (digits.empty()) return false;
  char* end = nullptr;
  double parsed = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size() || std::isnan(parsed) || std::isinf(parsed)) return false;
  // strtod takes hex floats ("0x1p3"); Python's float() does not
  for (char c : digits)
    if (c == 'x' || c == 'X' || c == 'p' || c == 'P') return false;
  double truncated = std::trunc(parsed);
  if (truncated >= 9.2e18) {
    *value = std::numeric_limits<int64_t>::max();
  } else {
    *value = static_cast<int64_t>(truncated);
  }
  return true;
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t Be16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint16_t Le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
// int.from_bytes(data[begin:end], "little"): a short slice gives the bytes that are there
uint64_t LittleSlice(const unsigned char* data, size_t size, size_t begin, size_t end) {
  uint64_t value = 0;
  for (size_t i = begin, shift = 0; i < end && i < size; ++i, shift += 8) value |= uint64_t{data[i]} << shift;
  return value;
}

using Size = std::optional<std::pair<int64_t, int64_t>>;

Size JpegSize(const unsigned char* data, size_t size) {
  // Walk the marker segments to the first start-of-frame (SOF0..SOF15 but DHT C4, JPG C8, DAC CC).
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return std::nullopt;
    unsigned marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      pos += 1;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // standalone markers
      pos += 2;
      continue;
    }
    unsigned length = Be16(data + pos + 2);
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (pos + 9 > size) return std::nullopt;
      return std::make_pair(int64_t{Be16(data + pos + 7)}, int64_t{Be16(data + pos + 5)});
    }
    if (marker == 0xDA || length < 2) return std::nullopt;  // scan data or a broken segment
    pos += 2 + length;
  }
  return std::nullopt;
}

Size WebpSize(const unsigned char* data, size_t size) {
  if (size >= 16 && std::memcmp(data + 12, "VP8X", 4) == 0)  // extended: 24-bit width-1, height-1
    return std::make_pair(static_cast<int64_t>(LittleSlice(data, size, 24, 27)) + 1,
                          static_cast<int64_t>(LittleSlice(data, size, 27, 30)) + 1);
  if (size >= 25 && std::memcmp(data + 12, "VP8L", 4) == 0 && data[20] == 0x2F) {  // lossless: 14-bit
    uint32_t bits = Le32(data + 21);
    return std::make_pair(int64_t{(bits & 0x3FFF) + 1}, int64_t{((bits >> 14) & 0x3FFF) + 1});
  }
  if (size >= 26 && std::memcmp(data + 12, "VP8 ", 4) == 0 && data[23] == 0x9d && data[24] == 0x01 &&
      data[25] == 0x2a) {  // lossy: 14-bit width, height
    if (size < 30) return std::nullopt;
    return std::make_pair(int64_t{Le16(data + 26) & 0x3FFF}, int64_t{Le16(data + 28) & 0x3FFF});
  }
  return std::nullopt;
}

Size PnmSize(const unsigned char* data, size_t size) {
  std::vector<int64_t> fields;
  size_t pos = 2;
  while (fields.size() < 2 && pos < size) {
    if (data[pos] == '#') {  // comment to the end of the line
      const void* newline = std::memchr(data + pos, '\n', size - pos);
      pos = newline ? static_cast<const unsigned char*>(newline) - data + 1 : size;
    } else if (std::isspace(data[pos])) {  // bytes.isspace: ASCII whitespace
      pos += 1;
    } else {
      size_t end = pos;
      long double value = 0;
      while (end < size && data[end] >= '0' && data[end] <= '9') value = value * 10 + (data[end++] - '0');
      if (end == pos) return std::nullopt;
      fields.push_back(value > 4e18L ? int64_t{4000000000000000000} : static_cast<int64_t>(value));
      pos = end;
    }
  }
  if (fields.size() != 2) return std::nullopt;
  return std::make_pair(fields[0], fields[1]);
}

}  // namespace

int64_t MaxImagePixels() {
  const char* env = std::getenv(kMaxImagePixelsEnv);
  std::string text = Strip(env ? env : "");
  if (text.empty()) return kDefaultMaxImagePixels;
  int64_t limit = 0;
  bool ok = text.find_first_of(".eE") != std::string::npos ? ParsePythonFloatInt(text, &limit)
                                                            : ParsePythonInt(text, &limit);
  if (!ok) limit = 0;
  if (limit <= 0)
    throw ConfigError(std::string(kMaxImagePixelsEnv) + "='" + text +
                      "' is not a positive number of pixels (e.g. " + std::to_string(kDefaultMaxImagePixels) +
                      " or 2e8); unset it for the default");
  return limit;
}

std::string WithThousands(__int128 n) {
  bool negative = n < 0;
  unsigned __int128 magnitude = negative ? -static_cast<unsigned __int128>(n) : static_cast<unsigned __int128>(n);
  std::string digits, out;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string OverLimitMessage(int64_t width, int64_t height, const std::string& what) {
  int64_t limit = MaxImagePixels();
  __int128 pixels = static_cast<__int128>(width) * height;  // header fields can be up to 2**32 each
  if (pixels <= limit) return "";
  return what + " " + std::to_string(width) + "x" + std::to_string(height) + " = " + WithThousands(pixels) +
         " pixels, over the limit of " + WithThousands(limit) +
         " pixels; downscale or crop the image, or raise the limit with " + kMaxImagePixelsEnv +
         "=N if you have the memory";
}

Size ImageSizeFromHeader(const unsigned char* data, size_t size) {
  // JPEG metadata (EXIF, ICC profiles) can come before its size: read up to 1 MB
  size = std::min<size_t>(size, size_t{1} << 20);
  auto starts = [&](const char* magic, size_t n) { return size >= n && std::memcmp(data, magic, n) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) {
    if (size >= 16 && std::memcmp(data + 12, "IHDR", 4) == 0) {
      if (size < 24) return std::nullopt;
      return std::make_pair(int64_t{Be32(data + 16)}, int64_t{Be32(data + 20)});
    }
  } else if (starts("\xff\xd8", 2)) {
    return JpegSize(data, size);
  } else if (starts("BM", 2)) {
    if (size < 18) return std::nullopt;
    if (Le32(data + 14) == 12) {  // OS/2 BITMAPCOREHEADER
      if (size < 22) return std::nullopt;
      return std::make_pair(int64_t{Le16(data + 18)}, int64_t{Le16(data + 20)});
    }
    if (size < 26) return std::nullopt;
    int64_t width = static_cast<int32_t>(Le32(data + 18)), height = static_cast<int32_t>(Le32(data + 22));
    return std::make_pair(std::llabs(width), std::llabs(height));  // negative height: top-down rows
  }
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) {
    if (size < 10) return std::nullopt;
    return std::make_pair(int64_t{Le16(data + 6)}, int64_t{Le16(data + 8)});
  }
  if (starts("RIFF", 4) && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0) return WebpSize(data, size);
  if (starts("P2", 2) || starts("P3", 2) || starts("P5", 2) || starts("P6", 2)) return PnmSize(data, size);
  return std::nullopt;
}

}  // namespace ppcls_hrnet
