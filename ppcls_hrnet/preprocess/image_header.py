"""How large an image is before it is decoded, and the pixel limit that size is held to.

DecodeImage reads the size from the header (PNG, JPEG, BMP, GIF, WebP,
PPM/PGM) and refuses an image over ``max_image_pixels()`` before the decoder
allocates it; the resize ops hold their output to the same limit. The limit
is 2**27 pixels by default, the environment variable
PPCLS_HRNET_MAX_IMAGE_PIXELS, or ``MAX_IMAGE_PIXELS`` set here in-process.
Pure Python: no cv2, no paddle.
"""
import os
import struct

from ..errors import ConfigError
from .errors import ImageError

# Why 2**27 (134,217,728) pixels: above every camera photo (a 102 MP medium-format
# frame fits) and any sane training or prediction input, while the largest image
# allowed still decodes to 384 MB (3 bytes a pixel) and its float32 copy in
# NormalizeImage to 1.5 GB: several loader workers can hold one each. OpenCV's
# own decoder limit is 2**30 pixels (3 GB decoded), too much for a data loader.
DEFAULT_MAX_IMAGE_PIXELS = 1 << 27
MAX_IMAGE_PIXELS_ENV = "PPCLS_HRNET_MAX_IMAGE_PIXELS"
# Set to an int to override the environment variable and the default in-process.
MAX_IMAGE_PIXELS = None


def max_image_pixels():
    """The largest image (width x height) the ops decode or produce."""
    if MAX_IMAGE_PIXELS is not None:
        return int(MAX_IMAGE_PIXELS)
    text = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(float(text)) if any(c in text for c in ".eE") else int(text)
    except (ValueError, OverflowError):
        limit = 0
    if limit <= 0:
        raise ConfigError(f"{MAX_IMAGE_PIXELS_ENV}={text!r} is not a positive number of pixels "
                          f"(e.g. {DEFAULT_MAX_IMAGE_PIXELS} or 2e8); unset it for the default")
    return limit


def pixel_limit_error(width, height, what):
    """ImageError for an image of width x height over the limit; None if it fits."""
    limit = max_image_pixels()
    if width * height <= limit:
        return None
    return ImageError(f"{what} {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
                      f"pixels; downscale or crop the image, or raise the limit with "
                      f"{MAX_IMAGE_PIXELS_ENV}=N if you have the memory")


def image_size_from_header(data):
    """(width, height) read from a PNG, JPEG, BMP, GIF, WebP or PPM/PGM header
    without decoding; None for other formats or headers too short to tell."""
    # JPEG metadata (EXIF, ICC profiles) can come before its size: read up to 1 MB
    data = bytes(data[:1 << 20])
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
        if data.startswith(b"BM"):
            (header_size,) = struct.unpack("<I", data[14:18])
            if header_size == 12:  # OS/2 BITMAPCOREHEADER
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)  # negative height: top-down rows
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] in (b"P2", b"P3", b"P5", b"P6"):
            return _pnm_size(data)
    except struct.error:  # truncated header: the decoder will say what is wrong
        return None
    return None


def _jpeg_size(data):
    # Walk the marker segments to the first start-of-frame (SOF0..SOF15 but
    # DHT C4, JPG C8, DAC CC): its height and width are the image size.
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data or a broken segment: give up
            return None
        pos += 2 + length
    return None


def _webp_size(data):
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1, height-1
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless: 14-bit width-1, height-1
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy: 14-bit width, height
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _pnm_size(data):
    fields, pos = [], 2
    while len(fields) < 2 and pos < len(data):
        if data[pos:pos + 1] == b"#":  # comment to the end of the line
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
        elif data[pos:pos + 1].isspace():
            pos += 1
        else:
            end = pos
            while end < len(data) and data[end:end + 1].isdigit():
                end += 1
            if end == pos:
                return None
            fields.append(int(data[pos:end]))
            pos = end
    return tuple(fields) if len(fields) == 2 else None
