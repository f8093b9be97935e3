// Which images to read, as ppcls_hrnet/preprocess/images.py lists them: a file, or a
// folder walked recursively (os.walk: symlinked folders not entered) and sorted.
#pragma once

#include <string>
#include <vector>

namespace ppcls_hrnet {

// Extensions a folder's images have (lower-cased): .jpg .jpeg .png .bmp .tif .tiff .webp .ppm .pgm
const std::vector<std::string>& ImageExtensions();

// ConfigError when a source is neither a file nor a folder, or a folder holds no images.
// http(s) URLs are kept (the C++ predictor reports them as unreadable: download them first).
std::vector<std::string> ListImages(const std::vector<std::string>& sources);

// The file's bytes; ImageError "cannot read PATH: reason".
std::vector<unsigned char> ReadImageBytes(const std::string& path);

}  // namespace ppcls_hrnet
