// Which images to read, as ppcls_hrnet/preprocess/images.py lists them: a file, or a
// folder walked recursively (os.walk: symlinked folders not entered) and sorted by bytes;
// and their bytes, by ppcls_hrnet/preprocess/reading.py's rules: only regular files are read
// (a FIFO, a device, a directory named like an image, a broken link or a symlink loop is
// refused by what stat says, never opened), and at most PPCLS_HRNET_MAX_IMAGE_BYTES.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ppcls_hrnet {

// Extensions a folder's images have (lower-cased): .jpg .jpeg .png .bmp .tif .tiff .webp .ppm .pgm
const std::vector<std::string>& ImageExtensions();

// ConfigError when a source does not exist, or a folder holds no entry named like an image.
// Every entry named like an image is listed, odd ones included (each is then reported once,
// by ReadImageBytes). http(s) URLs are kept (reported as unreadable: download them first).
// Checks the byte limit's setting first, once per run.
std::vector<std::string> ListImages(const std::vector<std::string>& sources);

// Bytes an encoded image may have: $PPCLS_HRNET_MAX_IMAGE_BYTES or 64 MiB; ConfigError if the
// variable is not a positive integer.
int64_t MaxImageBytes();

// The bytes of a regular file of at most MaxImageBytes(); ImageError "cannot read PATH: reason"
// otherwise ("a FIFO (named pipe), not a regular file", "N bytes, over the limit of ...").
std::vector<unsigned char> ReadImageBytes(const std::string& path);

}  // namespace ppcls_hrnet
