// Crop-aware JPEG decoding: with PaddleClas's ImageNet ops (resize_short 256, crop 224) a
// 500x375 photo only needs its central ~330x330 source pixels. libjpeg-turbo can skip rows
// (jpeg_skip_scanlines) and columns (jpeg_crop_scanline); inside the decoded region the pixels
// are those cv::imdecode(IMREAD_COLOR) gives (checked on 4:4:4, 4:2:2, 4:2:0, gray, baseline
// and progressive files: libjpeg-turbo 2.1's column crop can differ within a few pixels of the
// region's edge, so callers ask for a margin). Outside the region the image is left undefined.
#pragma once

#include <opencv2/core.hpp>

namespace ppcls_hrnet {

// True when this build has libjpeg (turbo) to do it.
bool JpegRegionDecodeAvailable();

// Decodes at least `region` of the JPEG into a full-size 8-bit BGR image (`bgr` is reused when it
// has that size and type already). Returns false whenever the result might differ from
// cv::imdecode's inside the region: not a YCbCr/gray JPEG, an EXIF orientation other than 1 (OpenCV
// rotates those), any libjpeg warning or error; `bgr` may then hold partial pixels, and the caller
// decodes the whole image with OpenCV.
bool DecodeJpegRegion(const unsigned char* data, size_t size, const cv::Rect& region, cv::Mat* bgr);

}  // namespace ppcls_hrnet
