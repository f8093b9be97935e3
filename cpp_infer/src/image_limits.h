// The image size limit of ppcls_hrnet/preprocess/image_header.py: every image the ops
// decode or produce is at most MaxImagePixels() pixels (default 2**27; environment
// variable PPCLS_HRNET_MAX_IMAGE_PIXELS). DecodeImage reads the size from the
// header (PNG, JPEG, BMP, GIF, WebP, PPM/PGM) and refuses a larger image before
// decoding it, so a decompression bomb is an error for that image, not an OOM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ppcls_hrnet {

constexpr int64_t kDefaultMaxImagePixels = int64_t{1} << 27;
constexpr const char* kMaxImagePixelsEnv = "PPCLS_HRNET_MAX_IMAGE_PIXELS";

// The limit from the environment (read on every call, as in Python); ConfigError if it is not a
// positive number.
int64_t MaxImagePixels();

// "1,234,567": Python's f"{n:,}".
std::string WithThousands(__int128 n);

// ImageError message if width x height is over the limit ("image is 40000x40000 = ..."), else "".
std::string OverLimitMessage(int64_t width, int64_t height, const std::string& what);

// (width, height) from the header without decoding; nullopt for other formats or short headers.
std::optional<std::pair<int64_t, int64_t>> ImageSizeFromHeader(const unsigned char* data, size_t size);

}  // namespace ppcls_hrnet
