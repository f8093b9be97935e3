#include "jpeg_region.h"

#ifdef PPCLS_WITH_JPEG_REGION

#include <csetjmp>
#include <cstring>

#include <jpeglib.h>

namespace ppcls_hrnet {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};

void OnError(j_common_ptr cinfo) { std::longjmp(reinterpret_cast<ErrorManager*>(cinfo->err)->jump, 1); }
void OnMessage(j_common_ptr cinfo, int level) {
  if (level < 0) ++cinfo->err->num_warnings;  // counted, not printed: a warning means "decode with OpenCV"
}

unsigned Read16(const unsigned char* p, bool little) { return little ? p[0] | (p[1] << 8) : (p[0] << 8) | p[1]; }
unsigned Read32(const unsigned char* p, bool little) {
  return little ? p[0] | (p[1] << 8) | (p[2] << 16) | (unsigned{p[3]} << 24)
                : (unsigned{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

// EXIF orientation from a saved APP1 marker: 1 (none), the tag's value, or 0 when unreadable.
int ExifOrientation(jpeg_saved_marker_ptr marker) {
  for (; marker; marker = marker->next) {
    if (marker->marker != JPEG_APP0 + 1 || marker->data_length < 14 || std::memcmp(marker->data, "Exif\0\0", 6) != 0)
      continue;
    const unsigned char* tiff = marker->data + 6;
    size_t size = marker->data_length - 6;
    bool little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 0;
    size_t ifd = Read32(tiff + 4, little);
    if (ifd + 2 > size) return 0;
    unsigned entries = Read16(tiff + ifd, little);
    for (unsigned i = 0; i < entries; ++i) {
      size_t entry = ifd + 2 + 12 * static_cast<size_t>(i);
      if (entry + 12 > size) return 0;
      if (Read16(tiff + entry, little) == 0x0112) return static_cast<int>(Read16(tiff + entry + 8, little));
    }
  }
  return 1;
}

void Setup(jpeg_decompress_struct* cinfo, ErrorManager* errors, const unsigned char* data, size_t size) {
  cinfo->err = jpeg_std_error(&errors->pub);
  errors->pub.error_exit = OnError;
  errors->pub.emit_message = OnMessage;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
}

bool Plain(const jpeg_decompress_struct& cinfo) {
  return (cinfo.jpeg_color_space == JCS_YCbCr && cinfo.num_components == 3) ||
         (cinfo.jpeg_color_space == JCS_GRAYSCALE && cinfo.num_components == 1);
}

// The two functions below hold no C++ objects: libjpeg's errors longjmp out of them.

// (width, height) of a JPEG this decoder can promise OpenCV's pixels for, else false.
bool ReadHeader(const unsigned char* data, size_t size, int* width, int* height) {
  jpeg_decompress_struct cinfo;
  ErrorManager errors;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  Setup(&cinfo, &errors, data, size);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  bool ok = Plain(cinfo) && ExifOrientation(cinfo.marker_list) == 1 && cinfo.err->num_warnings == 0;
  *width = static_cast<int>(cinfo.image_width);
  *height = static_cast<int>(cinfo.image_height);
  jpeg_destroy_decompress(&cinfo);
  return ok;
}

// Rows and columns of `region` (widened by libjpeg to whole iMCU columns) into the BGR buffer.
bool DecodeInto(const unsigned char* data, size_t size, int x0, int y0, int x1, int y1, unsigned char* pixels,
                size_t stride) {
  jpeg_decompress_struct cinfo;
  ErrorManager errors;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  Setup(&cinfo, &errors, data, size);
  jpeg_read_header(&cinfo, TRUE);
  if (!Plain(cinfo)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = JCS_EXT_BGR;  // what OpenCV asks libjpeg-turbo for
  jpeg_start_decompress(&cinfo);
  JDIMENSION x = static_cast<JDIMENSION>(x0), w = static_cast<JDIMENSION>(x1 - x0);
  jpeg_crop_scanline(&cinfo, &x, &w);
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(y0));
  while (static_cast<int>(cinfo.output_scanline) < y1) {
    JSAMPROW row = pixels + stride * cinfo.output_scanline + 3 * static_cast<size_t>(x);
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  bool clean = cinfo.err->num_warnings == 0;
  jpeg_abort_decompress(&cinfo);  // the rows below are not needed
  jpeg_destroy_decompress(&cinfo);
  return clean;
}

}  // namespace

bool JpegRegionDecodeAvailable() { return true; }

bool DecodeJpegRegion(const unsigned char* data, size_t size, const cv::Rect& region, cv::Mat* bgr) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) return false;
  int width = 0, height = 0;
  if (!ReadHeader(data, size, &width, &height)) return false;
  const cv::Rect wanted = region & cv::Rect(0, 0, width, height);
  if (wanted.empty()) return false;
  bgr->create(height, width, CV_8UC3);  // kept if it has that size already; outside the region: as it was
  return DecodeInto(data, size, wanted.x, wanted.y, wanted.x + wanted.width, wanted.y + wanted.height, bgr->data,
                    bgr->step);
}

}  // namespace ppcls_hrnet

#else  // built without libjpeg

namespace ppcls_hrnet {
bool JpegRegionDecodeAvailable() { return false; }
bool DecodeJpegRegion(const unsigned char*, size_t, const cv::Rect&, cv::Mat*) { return false; }
}  // namespace ppcls_hrnet

#endif
