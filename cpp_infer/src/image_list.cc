#include "image_list.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ppcls_hrnet/classifier.h"

namespace ppcls_hrnet {
namespace {

bool IsUrl(const std::string& source) {
  std::string lower = source.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0;
}

std::string JoinPath(const std::string& root, const std::string& name) {  // os.path.join
  return root.empty() || root.back() == '/' ? root + name : root + "/" + name;
}

bool HasImageExtension(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& ext : ImageExtensions())
    if (lower.size() >= ext.size() && lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0) return true;
  return false;
}

// os.walk(top) without followlinks: an unreadable folder is skipped silently, a symlink to a
// folder is neither entered nor listed, anything else (files, broken links) is a file name.
void Walk(const std::string& top, std::vector<std::string>* found) {
  DIR* dir = opendir(top.c_str());
  if (!dir) return;
  std::vector<std::string> subdirs;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string path = JoinPath(top, name);
    struct stat info;
    bool is_dir = stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
    if (is_dir) {
      struct stat link;
      if (lstat(path.c_str(), &link) == 0 && !S_ISLNK(link.st_mode)) subdirs.push_back(path);
    } else if (HasImageExtension(name)) {
      found->push_back(path);
    }
  }
  closedir(dir);
  for (const auto& sub : subdirs) Walk(sub, found);
}

}  // namespace

const std::vector<std::string>& ImageExtensions() {
  static const std::vector<std::string> extensions = {".jpg",  ".jpeg", ".png", ".bmp", ".tif",
                                                      ".tiff", ".webp", ".ppm", ".pgm"};
  return extensions;
}

std::vector<std::string> ListImages(const std::vector<std::string>& sources) {
  std::vector<std::string> images;
  for (const auto& source : sources) {
    struct stat info;
    bool exists = stat(source.c_str(), &info) == 0;
    if (IsUrl(source) || (exists && S_ISREG(info.st_mode))) {
      images.push_back(source);
    } else if (exists && S_ISDIR(info.st_mode)) {
      std::vector<std::string> found;
      Walk(source, &found);
      if (found.empty()) {
        std::string extensions;
        for (const auto& ext : ImageExtensions()) extensions += (extensions.empty() ? "" : ", ") + ext;
        throw ConfigError("no images (" + extensions + ") found under " + source);
      }
      std::sort(found.begin(), found.end());  // byte order of UTF-8 = Python's code point order
      images.insert(images.end(), found.begin(), found.end());
    } else {
      throw ConfigError("infer_imgs '" + source + "' is neither an image file, a folder nor an http(s) URL");
    }
  }
  return images;
}

std::vector<unsigned char> ReadImageBytes(const std::string& path) {
  if (IsUrl(path))
    throw ImageError("cannot read " + path + ": the C++ predictor reads local files only (download it first)");
  FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw ImageError("cannot read " + path + ": " + std::strerror(errno));
  std::vector<unsigned char> bytes;
  struct stat info;
  if (fstat(fileno(file), &info) == 0 && S_ISREG(info.st_mode)) bytes.reserve(static_cast<size_t>(info.st_size));
  unsigned char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) bytes.insert(bytes.end(), buffer, buffer + got);
  bool failed = std::ferror(file);
  int error = errno;
  std::fclose(file);
  if (failed) throw ImageError("cannot read " + path + ": " + std::strerror(error));
  return bytes;
}

}  // namespace ppcls_hrnet
