#include "image_list.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

constexpr const char* kMaxImageBytesEnv = "PPCLS_HRNET_MAX_IMAGE_BYTES";
constexpr int64_t kDefaultMaxImageBytes = int64_t{64} << 20;

// reading.py's file_kind: what a non-regular file is, for a message
std::string FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

ImageError CannotRead(const std::string& path, const std::string& reason) {
  return ImageError("cannot read " + path + ": " + reason);
}

std::string OverLimit(const std::string& size, int64_t limit) {
  return size + ", over the limit of " + std::to_string(limit) + " bytes for an image (" + kMaxImageBytesEnv + ")";
}

// os.walk(top) without followlinks: an unreadable folder is skipped silently, a symlink to a
// folder is not entered, anything else (files, broken links, loops) is a file name. Folders
// named like an image are listed too, as images.py lists them, to be reported.
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
    }
    if (HasImageExtension(name)) found->push_back(path);
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

int64_t MaxImageBytes() {
  const char* env = std::getenv(kMaxImageBytesEnv);
  std::string text = env ? env : "";
  text.erase(0, text.find_first_not_of(" \t\n\r\f\v"));
  text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
  if (text.empty()) return kDefaultMaxImageBytes;
  char* end = nullptr;
  errno = 0;
  long long limit = std::strtoll(text.c_str(), &end, 10);
  bool digits = text.find_first_not_of("+-0123456789") == std::string::npos;
  if (!digits || *end != '\0' || errno == ERANGE || limit <= 0)
    throw ConfigError(std::string(kMaxImageBytesEnv) + "='" + text + "' is not a positive number of bytes (e.g. " +
                      std::to_string(kDefaultMaxImageBytes) + "); unset it for the default");
  return limit;
}

std::vector<std::string> ListImages(const std::vector<std::string>& sources) {
  MaxImageBytes();  // a bad setting stops the run before any image is read
  std::vector<std::string> images;
  for (const auto& source : sources) {
    struct stat info, link;
    bool is_dir = stat(source.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
    bool exists = lstat(source.c_str(), &link) == 0;  // os.path.lexists
    if (IsUrl(source) || (exists && !is_dir)) {
      images.push_back(source);  // a regular file, or an odd one ReadImageBytes refuses by name
    } else if (is_dir) {
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
  int64_t limit = MaxImageBytes();
  struct stat info;
  if (stat(path.c_str(), &info) != 0) throw CannotRead(path, std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw CannotRead(path, FileKind(info.st_mode) + ", not a regular file");
  // O_NONBLOCK: a FIFO put in the file's place since the stat above must not wait for a writer
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw CannotRead(path, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (fstat(fd, &info) != 0) throw CannotRead(path, std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw CannotRead(path, FileKind(info.st_mode) + ", not a regular file");
  if (info.st_size > limit) throw CannotRead(path, OverLimit(std::to_string(info.st_size) + " bytes", limit));
  std::vector<unsigned char> bytes;
  bytes.reserve(static_cast<size_t>(info.st_size));
  unsigned char buffer[1 << 16];
  while (true) {
    size_t want = static_cast<size_t>(std::min<int64_t>(sizeof buffer, limit + 1 - static_cast<int64_t>(bytes.size())));
    ssize_t got = read(fd, buffer, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw CannotRead(path, std::strerror(errno));
    }
    if (got == 0) return bytes;
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (static_cast<int64_t>(bytes.size()) > limit)  // the file grew, or its size lied
      throw CannotRead(path, OverLimit("more than " + std::to_string(limit) + " bytes", limit));
  }
}

}  // namespace ppcls_hrnet
