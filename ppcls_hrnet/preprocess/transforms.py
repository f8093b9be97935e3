"""PaddleClas image transform ops: the one preprocessing implementation.

Training, eval, export (`inference.yml`) and every deploy predictor use these
ops, configured by the same YAML list PaddleClas uses:

    - DecodeImage: {to_rgb: True, channel_first: False}
    - ResizeImage: {resize_short: 256}
    - CropImage: {size: 224}
    - NormalizeImage: {scale: 1.0/255.0, mean: [...], std: [...], order: ''}
    - ToCHWImage:

Numbers match PaddleClas's cv2 backend, so a deployed model sees the pixels
it was trained and exported with. `size` lists are [width, height], as in
PaddleClas (it hands them to cv2.resize). Pure numpy + cv2: no paddle here.

Image size limit: every image these ops decode or make is at most
`max_image_pixels()` pixels (default 2**27, about 134 megapixels; environment
variable PPCLS_HRNET_MAX_IMAGE_PIXELS, or set MAX_IMAGE_PIXELS in
:mod:`.image_header`). DecodeImage refuses a larger image from its header,
before decoding it (PNG, JPEG, BMP, GIF, WebP, PPM/PGM; other formats after
decoding), and resizes refuse a larger output (a 30000x2 image resized to
short side 256 would be ~1e9 pixels). Any failure of one image is an
ImageError: the caller reports or skips that image and goes on with the
others.

Output budget: a caller that knows how big its images need to be (a server:
a multiple of the model input) can give Compose an OutputBudget; an op that
would make a larger image (a resize, crop or pad) is refused before it runs,
whatever the global limit allows.
"""
import difflib
import inspect
import math
import numbers
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError
from .errors import ImageError
from .image_header import MAX_IMAGE_PIXELS_ENV, image_size_from_header, max_image_pixels, pixel_limit_error

# PaddleClas's cv2 interpolation names; None means bilinear there too.
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}

# Layouts an op can see: encoded bytes before DecodeImage, then an image array.
BYTES, HWC, CHW = "bytes", "hwc", "chw"


OPENCV_PIXELS_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"
OPENCV_DEFAULT_MAX_PIXELS = 1 << 30


def opencv_decoder_limit():
    """OpenCV's decoder pixel limit as OpenCV reads it: OPENCV_IO_MAX_IMAGE_PIXELS, else 2**30.

    Returned as text for messages: "134,217,728", or the variable's own text if it is not a
    plain integer (OpenCV also takes suffixes such as 128M)."""
    text = os.environ.get(OPENCV_PIXELS_ENV, "").strip()
    if not text:
        return f"{OPENCV_DEFAULT_MAX_PIXELS:,}"
    return f"{int(text):,}" if text.isdigit() else text


def _opencv_message(err):
    """The useful part of a cv2.error ("OpenCV(5.0.0) /path.cpp:79: error: (-215:...) X in function 'f'")."""
    reason = getattr(err, "err", None) or str(err).strip().splitlines()[-1]
    if "CV_IO_MAX_IMAGE_PIXELS" in reason:
        return f"larger than OpenCV's decoder limit of {opencv_decoder_limit()} pixels ({OPENCV_PIXELS_ENV})"
    func = getattr(err, "func", None)
    return f"OpenCV: {reason}" + (f" (in {func})" if func else "")


def parse_fraction(value):
    """A finite float from a number or a string "a" / "a/b" (PaddleClas eval()s these)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, numbers.Real):
        result = float(value)
    elif isinstance(value, str):
        parts = value.split("/")
        if len(parts) > 2:
            raise ValueError(f"expected a number or a fraction a/b, got {value!r}")
        try:
            terms = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"expected a number or a fraction a/b, got {value!r}") from None
        if len(terms) == 2 and terms[1] == 0:
            raise ValueError(f"division by zero in {value!r}")
        result = terms[0] / terms[1] if len(terms) == 2 else terms[0]
    else:
        raise ValueError(f"expected a number or a fraction a/b, got {value!r}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


# ---- parameter checks: each raises ConfigError naming the op and the param ----

def _param_error(op, name, problem):
    return ConfigError(f"{op}: bad '{name}': {problem}")


def _check_bool(op, name, value):
    if not isinstance(value, bool):
        raise _param_error(op, name, f"expected true or false, got {value!r}")
    return value


def _check_positive_int(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise _param_error(op, name, f"expected a positive integer, got {value!r}")
    return int(value)


def _check_size(op, name, value):
    """int or [width, height] -> (width, height)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _param_error(op, name, f"expected an integer or [width, height], got {value!r}")
        return tuple(_check_positive_int(op, name, v) for v in value)
    side = _check_positive_int(op, name, value)
    return side, side


def _size_config(size):
    width, height = size
    return width if width == height else [width, height]


def _check_range(op, name, value, default):
    """A [low, high] pair with 0 < low <= high."""
    if value is None:
        return default
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _param_error(op, name, f"expected [low, high], got {value!r}")
    try:
        low, high = (parse_fraction(v) for v in value)
    except ValueError as e:
        raise _param_error(op, name, str(e)) from None
    if not 0 < low <= high:
        raise _param_error(op, name, f"expected 0 < low <= high, got {value!r}")
    return low, high


def _check_triple(op, name, value, default):
    if value is None:
        return default
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise _param_error(op, name, f"expected a list of 3 numbers (one per channel), got {value!r}")
    try:
        return tuple(parse_fraction(v) for v in value)
    except ValueError as e:
        raise _param_error(op, name, str(e)) from None


def _check_choice(op, name, value, choices):
    if value not in choices:
        raise _param_error(op, name, f"expected one of {list(choices)}, got {value!r}")
    return value


def _check_interpolation(op, value):
    if value is None:
        return "bilinear"
    if not isinstance(value, str) or value.lower() not in INTERPOLATIONS:
        raise _param_error(op, "interpolation", f"expected one of {list(INTERPOLATIONS)}, got {value!r}")
    return value.lower()


def _check_backend(op, value):
    if not isinstance(value, str) or value.lower() != "cv2":
        raise _param_error(op, "backend", f"only 'cv2' is supported, got {value!r}")
    return "cv2"


def _check_resize(op, width, height, target, cause=None):
    """ImageError unless resizing width x height to target (w, h) stays within the limit."""
    out_w, out_h = target
    if out_w <= 0 or out_h <= 0:
        raise ImageError(f"{op}: a {width}x{height} image would resize to {out_w}x{out_h}")
    limit = max_image_pixels()
    if out_w * out_h > limit:
        why = ""
        if cause:
            why = (f": its aspect ratio {max(width, height) / min(width, height):.0f}:1 is too extreme for "
                   f"{cause}; crop or pad the image")
        raise ImageError(f"{op}: resizing this {width}x{height} image to {out_w}x{out_h} would make "
                         f"{out_w * out_h:,} pixels, over the limit of {limit:,}{why} (or raise the limit "
                         f"with {MAX_IMAGE_PIXELS_ENV}=N if you have the memory)")


@dataclass(frozen=True)
class OutputBudget:
    """The most pixels one op may make of an image, and where that number comes from
    (``origin``, e.g. "16 x the model input 32x32; raise --max_resize_multiple to allow
    more"), which the refusal names."""
    pixels: int
    origin: str = ""

    def __post_init__(self):
        if self.pixels < 1:
            raise ConfigError(f"an output budget must be >= 1 pixel, got {self.pixels}")

    def error(self, op, width, height, out_w, out_h):
        """ImageError if op turning width x height into out_w x out_h goes over the budget; else None."""
        if out_w * out_h <= self.pixels:
            return None
        origin = f" ({self.origin})" if self.origin else ""
        return ImageError(f"{op} would turn this {width}x{height} image into {out_w}x{out_h} = {out_w * out_h:,} "
                          f"pixels, over the limit of {self.pixels:,} pixels for one image{origin}; send a "
                          f"smaller or less elongated image")


def _image_height_width(op, img):
    if not isinstance(img, np.ndarray) or img.ndim != 3:
        shape = getattr(img, "shape", type(img).__name__)
        raise ImageError(f"{op} expects an HWC image array, got {shape}")
    return img.shape[:2]


class TransformOp:
    """One step of the pipeline. `to_config()` returns its YAML entry back."""

    # True when __call__ draws from its `rng` argument.
    random = False
    # Layouts the op accepts; checked by Compose so a bad list fails at build time.
    accepts = (HWC,)

    def __call__(self, img, rng=None):
        raise NotImplementedError

    def params(self):
        """Effective parameters, as plain YAML/JSON values (None: the op has none)."""
        return None

    def output_size(self, height, width):
        """(width, height) of the image this op makes from a height x width one, for an op that
        resizes, crops or pads (None: it keeps the size or does not take images)."""
        return None

    def output_layout(self, layout):
        return layout

    def to_config(self):
        return {type(self).__name__: self.params()}

    def __repr__(self):
        return f"{type(self).__name__}({self.params() or ''})"


class DecodeImage(TransformOp):
    """Encoded bytes -> HWC uint8, always 3 channels (gray is expanded, alpha dropped)."""
    accepts = (BYTES,)

    def __init__(self, to_rgb=True, channel_first=False, to_np=True, backend="cv2"):
        op = type(self).__name__
        self.to_rgb = _check_bool(op, "to_rgb", to_rgb)
        self.channel_first = _check_bool(op, "channel_first", channel_first)
        # Accepted for PaddleClas configs; only their default is meaningful here.
        _check_choice(op, "to_np", to_np, (True,))
        _check_backend(op, backend)

    def __call__(self, data, rng=None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError(f"DecodeImage expects encoded image bytes, got {type(data).__name__}")
        if len(data) == 0:
            raise ImageError("empty image file")
        size = image_size_from_header(data)
        error = None if size is None else pixel_limit_error(*size, "image is")
        if error is not None:  # refused before the decoder allocates it
            raise error
        try:
            img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        except cv2.error as err:
            raise ImageError(f"not a decodable image ({len(data)} bytes): {_opencv_message(err)}") from None
        if img is None:
            raise ImageError(f"not a decodable image ({len(data)} bytes)")
        error = pixel_limit_error(img.shape[1], img.shape[0], "image is")
        if error is not None:  # a format whose header we do not read
            raise error
        if self.to_rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return img

    def output_layout(self, layout):
        return CHW if self.channel_first else HWC

    def params(self):
        return {"to_rgb": self.to_rgb, "channel_first": self.channel_first}


class ResizeImage(TransformOp):
    """Resize the short side to `resize_short` (aspect kept), or to a fixed `size`."""

    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2"):
        op = type(self).__name__
        if (size is None) == (resize_short is None):
            raise ConfigError(f"{op}: give exactly one of 'resize_short' or 'size'")
        self.resize_short = None if resize_short is None else _check_positive_int(op, "resize_short", resize_short)
        self.size = None if size is None else _check_size(op, "size", size)
        self.interpolation = _check_interpolation(op, interpolation)
        _check_backend(op, backend)

    def target_size(self, height, width):
        """(width, height) after resizing, rounded exactly as PaddleClas does."""
        if self.resize_short is None:
            return self.size
        percent = float(self.resize_short) / min(width, height)
        return int(round(width * percent)), int(round(height * percent))

    output_size = target_size

    def __call__(self, img, rng=None):
        height, width = _image_height_width("ResizeImage", img)
        target = self.target_size(height, width)
        _check_resize("ResizeImage", width, height, target,
                      f"resize_short {self.resize_short}" if self.resize_short else None)
        return cv2.resize(img, target, interpolation=INTERPOLATIONS[self.interpolation])

    def params(self):
        if self.resize_short is not None:
            params = {"resize_short": self.resize_short}
        else:
            params = {"size": _size_config(self.size)}
        return {**params, "interpolation": self.interpolation, "backend": "cv2"}


class RandCropImage(TransformOp):
    """Random-resized crop: a crop of random area fraction `scale` and aspect
    `ratio` (w/h), resized to `size`."""
    random = True

    def __init__(self, size, scale=None, ratio=None, interpolation=None, backend="cv2"):
        op = type(self).__name__
        self.size = _check_size(op, "size", size)
        self.scale = _check_range(op, "scale", scale, (0.08, 1.0))
        self.ratio = _check_range(op, "ratio", ratio, (3.0 / 4.0, 4.0 / 3.0))
        self.interpolation = _check_interpolation(op, interpolation)
        _check_backend(op, backend)

    def crop_box(self, height, width, rng):
        """(x, y, w, h) of the crop, with PaddleClas's bound that keeps it inside the image."""
        aspect = rng.uniform(*self.ratio)
        bound = min((width / height) / aspect, (height / width) * aspect)
        area = width * height * rng.uniform(min(self.scale[0], bound), min(self.scale[1], bound))
        crop_w = min(width, max(1, int(math.sqrt(area * aspect))))
        crop_h = min(height, max(1, int(math.sqrt(area / aspect))))
        x = int(rng.integers(0, width - crop_w + 1))
        y = int(rng.integers(0, height - crop_h + 1))
        return x, y, crop_w, crop_h

    def output_size(self, height, width):
        return self.size

    def __call__(self, img, rng):
        height, width = _image_height_width("RandCropImage", img)
        x, y, crop_w, crop_h = self.crop_box(height, width, rng)
        _check_resize("RandCropImage", crop_w, crop_h, self.size)
        return cv2.resize(img[y:y + crop_h, x:x + crop_w], self.size,
                          interpolation=INTERPOLATIONS[self.interpolation])

    def params(self):
        return {"size": _size_config(self.size), "scale": list(self.scale),
                "ratio": list(self.ratio), "interpolation": self.interpolation, "backend": "cv2"}


class RandFlipImage(TransformOp):
    """With probability 1/2, cv2.flip: 1 horizontal, 0 vertical, -1 both."""
    random = True

    def __init__(self, flip_code=1):
        self.flip_code = _check_choice(type(self).__name__, "flip_code", flip_code, (1, 0, -1))

    def __call__(self, img, rng):
        _image_height_width("RandFlipImage", img)
        return cv2.flip(img, self.flip_code) if rng.integers(0, 2) == 1 else img

    def params(self):
        return {"flip_code": self.flip_code}


class CropImage(TransformOp):
    """Center crop to `size`; offsets (W - w) // 2, (H - h) // 2 as in PaddleClas."""

    def __init__(self, size):
        self.size = _check_size(type(self).__name__, "size", size)

    def output_size(self, height, width):
        return self.size

    def __call__(self, img, rng=None):
        height, width = _image_height_width("CropImage", img)
        crop_w, crop_h = self.size
        if crop_w > width or crop_h > height:
            # PaddleClas would slice with negative offsets and return a wrong-size crop.
            raise ImageError(f"image {width}x{height} is smaller than the crop {crop_w}x{crop_h} "
                             "(resize it first, e.g. ResizeImage resize_short)")
        x, y = (width - crop_w) // 2, (height - crop_h) // 2
        return img[y:y + crop_h, x:x + crop_w]

    def params(self):
        return {"size": _size_config(self.size)}


PAD_MODES = {"constant": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE,
             "reflect": cv2.BORDER_REFLECT_101, "symmetric": cv2.BORDER_REFLECT}


class Pad(TransformOp):
    """PaddleClas's Pad: `padding` pixels on every side (an int; or [left/right,
    top/bottom]; or [left, top, right, bottom]), filled with `fill` in
    `padding_mode` constant (PaddleClas's only working mode), or edge, reflect,
    symmetric as torchvision names them. With RandomCropImage back to the
    original size it is the classic translation augmentation."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        op = type(self).__name__
        sides = [padding] * 4 if isinstance(padding, numbers.Integral) else list(padding) \
            if isinstance(padding, (list, tuple)) else None
        if sides is not None and len(sides) == 2:
            sides = sides * 2
        if sides is None or len(sides) != 4 or not all(isinstance(v, numbers.Integral) and v >= 0 for v in sides):
            raise _param_error(op, "padding", f"expected pixels >= 0 as an int, [x, y] or "
                                              f"[left, top, right, bottom], got {padding!r}")
        self.padding = tuple(int(v) for v in sides)
        if not isinstance(fill, numbers.Real) or isinstance(fill, bool) or not 0 <= fill <= 255:
            raise _param_error(op, "fill", f"expected a pixel value in [0, 255], got {fill!r}")
        self.fill = fill
        self.padding_mode = _check_choice(op, "padding_mode", padding_mode, tuple(PAD_MODES))

    def output_size(self, height, width):
        left, top, right, bottom = self.padding
        return width + left + right, height + top + bottom

    def __call__(self, img, rng=None):
        _image_height_width("Pad", img)
        left, top, right, bottom = self.padding
        return cv2.copyMakeBorder(img, top, bottom, left, right, PAD_MODES[self.padding_mode],
                                  value=(self.fill,) * 4)

    def params(self):
        return {"padding": list(self.padding), "fill": self.fill, "padding_mode": self.padding_mode}


class RandomCropImage(TransformOp):
    """PaddleClas's RandomCropImage: a `size` ([width, height]) window at a
    uniformly random position, no resizing (after Pad: a random shift)."""
    random = True

    def __init__(self, size):
        self.size = _check_size(type(self).__name__, "size", size)

    def output_size(self, height, width):
        return self.size

    def __call__(self, img, rng):
        height, width = _image_height_width("RandomCropImage", img)
        crop_w, crop_h = self.size
        if crop_w > width or crop_h > height:
            raise ImageError(f"image {width}x{height} is smaller than the crop {crop_w}x{crop_h} "
                             "(resize or Pad it first)")
        x = int(rng.integers(0, width - crop_w + 1))
        y = int(rng.integers(0, height - crop_h + 1))
        return img[y:y + crop_h, x:x + crop_w]

    def params(self):
        return {"size": _size_config(self.size)}


class NormalizeImage(TransformOp):
    """(img * scale - mean) / std in float32; `order` is the layout of the input
    ('' = HWC, 'chw' = CHW; PaddleClas's default is 'chw'). channel_num 4 appends
    a zero channel."""
    accepts = (HWC, CHW)

    def __init__(self, scale=None, mean=None, std=None, order="chw", channel_num=3, output_fp16=False):
        op = type(self).__name__
        try:
            self.scale = 1.0 / 255.0 if scale is None else parse_fraction(scale)
        except ValueError as e:
            raise _param_error(op, "scale", str(e)) from None
        self.mean = _check_triple(op, "mean", mean, (0.485, 0.456, 0.406))
        self.std = _check_triple(op, "std", std, (0.229, 0.224, 0.225))
        if 0 in self.std:
            raise _param_error(op, "std", f"must not contain 0, got {list(self.std)}")
        self.order = _check_choice(op, "order", order, ("", "hwc", "chw"))
        self.channel_num = _check_choice(op, "channel_num", channel_num, (3, 4))
        self.output_fp16 = _check_bool(op, "output_fp16", output_fp16)
        self._channel_axis = 0 if self.order == "chw" else 2
        shape = (3, 1, 1) if self.order == "chw" else (1, 1, 3)
        self._scale = np.float32(self.scale)
        self._mean = np.array(self.mean, dtype=np.float32).reshape(shape)
        self._std = np.array(self.std, dtype=np.float32).reshape(shape)

    def __call__(self, img, rng=None):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[self._channel_axis] != 3:
            layout = "CHW" if self.order == "chw" else "HWC"
            raise ImageError(f"NormalizeImage(order={self.order!r}) expects a 3-channel {layout} image, "
                             f"got shape {getattr(img, 'shape', type(img).__name__)}")
        img = (img.astype(np.float32) * self._scale - self._mean) / self._std
        if self.channel_num == 4:
            pad_shape = list(img.shape)
            pad_shape[self._channel_axis] = 1
            img = np.concatenate([img, np.zeros(pad_shape, np.float32)], axis=self._channel_axis)
        return img.astype(np.float16 if self.output_fp16 else np.float32, copy=False)

    def output_layout(self, layout):
        expected = CHW if self.order == "chw" else HWC
        if layout != expected:
            fix = "order: ''" if layout == HWC else "order: chw"
            raise ConfigError(f"NormalizeImage(order={self.order!r}) expects {expected.upper()} input "
                              f"but receives {layout.upper()}; set {fix}")
        return layout

    def params(self):
        return {"scale": self.scale, "mean": list(self.mean), "std": list(self.std), "order": self.order,
                "channel_num": self.channel_num, "output_fp16": self.output_fp16}


def _check_fraction(op, name, value, low, high):
    try:
        result = parse_fraction(value)
    except ValueError as e:
        raise _param_error(op, name, str(e)) from None
    if not low <= result <= high:
        raise _param_error(op, name, f"expected a value in [{low}, {high}], got {value!r}")
    return result


class RandomErasing(TransformOp):
    """PaddleClas's RandomErasing (Zhong et al. 2017), for training: with
    probability EPSILON, one rectangle of area fraction U(sl, sh) and aspect
    U(r1, 1/r1) (log-uniform with use_log_aspect) is filled with `mean`
    (mode const), one normal draw per channel (rand) or per pixel (pixel).
    Runs after NormalizeImage, on HWC or CHW float images; `attempt` tries to
    fit the rectangle inside the image, then the image is left as it is."""
    random = True
    accepts = (HWC, CHW)

    def __init__(self, EPSILON=0.5, sl=0.02, sh=0.4, r1=0.3, mean=None, attempt=100,
                 use_log_aspect=False, mode="const"):
        op = type(self).__name__
        self.EPSILON = _check_fraction(op, "EPSILON", EPSILON, 0.0, 1.0)
        self.sl = _check_fraction(op, "sl", sl, 0.0, 1.0)
        self.sh = _check_fraction(op, "sh", sh, self.sl, 1.0)
        self.r1 = _check_fraction(op, "r1", r1, 1e-6, 1.0)
        self.mean = _check_triple(op, "mean", mean, (0.0, 0.0, 0.0))
        self.attempt = _check_positive_int(op, "attempt", attempt)
        self.use_log_aspect = _check_bool(op, "use_log_aspect", use_log_aspect)
        self.mode = _check_choice(op, "mode", mode, ("const", "rand", "pixel"))
        self._layout = HWC

    def output_layout(self, layout):
        self._layout = layout
        return layout

    def _aspect(self, rng):
        if self.use_log_aspect:
            return math.exp(rng.uniform(math.log(self.r1), math.log(1 / self.r1)))
        return rng.uniform(self.r1, 1 / self.r1)

    def __call__(self, img, rng):
        if not isinstance(img, np.ndarray) or img.ndim != 3:
            raise ImageError(f"RandomErasing expects a normalized 3-D image array, got "
                             f"{getattr(img, 'shape', type(img).__name__)}")
        if rng.uniform() >= self.EPSILON:
            return img
        chw = self._layout == CHW
        channels, height, width = img.shape if chw else (img.shape[2], *img.shape[:2])
        for _ in range(self.attempt):
            area = rng.uniform(self.sl, self.sh) * height * width
            aspect = self._aspect(rng)
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < h < height and 0 < w < width:
                y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
                if self.mode == "pixel":
                    fill = rng.standard_normal((h, w, channels))
                elif self.mode == "rand":
                    fill = rng.standard_normal((1, 1, channels))
                else:
                    fill = np.array(self.mean[:channels] + (0.0,) * (channels - 3), np.float32).reshape(1, 1, -1)
                img = img.copy()
                if chw:
                    img[:, y:y + h, x:x + w] = np.moveaxis(np.broadcast_to(fill, (h, w, channels)), 2, 0)
                else:
                    img[y:y + h, x:x + w, :] = fill
                return img
        return img

    def params(self):
        return {"EPSILON": self.EPSILON, "sl": self.sl, "sh": self.sh, "r1": self.r1, "mean": list(self.mean),
                "attempt": self.attempt, "use_log_aspect": self.use_log_aspect, "mode": self.mode}


class ToCHWImage(TransformOp):
    """HWC -> CHW."""

    def __call__(self, img, rng=None):
        _image_height_width("ToCHWImage", img)
        return img.transpose((2, 0, 1))

    def output_layout(self, layout):
        return CHW


OPS = {cls.__name__: cls for cls in (DecodeImage, ResizeImage, RandCropImage, RandFlipImage, CropImage,
                                     Pad, RandomCropImage, NormalizeImage, RandomErasing, ToCHWImage)}


class Compose:
    """The op list as one callable: `compose(data, rng)` -> image.

    Random ops draw from `rng` (a numpy Generator) when given, else from the
    Compose's own generator seeded by `seed`. The loader passes one rng per
    sample, so augmentation does not depend on which worker loads it.
    With an `output_budget` (OutputBudget), an op that would make a larger
    image is refused before it runs.
    """

    def __init__(self, ops, seed=None, output_budget=None):
        self.ops = list(ops)
        self.output_layout = self._check_layouts(self.ops)
        self.is_random = any(op.random for op in self.ops)
        self.output_budget = output_budget
        self._rng = np.random.default_rng(seed)
        max_image_pixels()  # a bad PPCLS_HRNET_MAX_IMAGE_PIXELS fails here, not on every image

    @staticmethod
    def _check_layouts(ops):
        # Without DecodeImage the caller hands in decoded HWC arrays.
        layout = BYTES if ops and isinstance(ops[0], DecodeImage) else HWC
        hints = {BYTES: "put DecodeImage first",
                 HWC: "DecodeImage must be the first op",
                 CHW: "it needs HWC: use DecodeImage channel_first: False and put ToCHWImage last"}
        for index, op in enumerate(ops):
            if layout not in op.accepts:
                raise ConfigError(f"transform_ops[{index}] {type(op).__name__} cannot take "
                                  f"{layout.upper()} input ({hints[layout]})")
            layout = op.output_layout(layout)
        return layout

    def __call__(self, img, rng=None):
        rng = self._rng if rng is None else rng
        for op in self.ops:
            if self.output_budget is not None:
                self._check_budget(op, img)
            try:
                img = op(img, rng)
            except cv2.error as err:  # an image the op's checks let through
                raise ImageError(f"{type(op).__name__} failed on {_describe(img)}: {_opencv_message(err)}") from None
            except MemoryError:
                raise ImageError(f"{type(op).__name__} ran out of memory on {_describe(img)} (lower "
                                 f"{MAX_IMAGE_PIXELS_ENV}, now {max_image_pixels():,} pixels, or num_workers)") from None
        return img

    def _check_budget(self, op, img):
        if not isinstance(img, np.ndarray) or img.ndim != 3:
            return  # not an HWC image yet (bytes): no op that takes it changes a size
        height, width = img.shape[:2]
        size = op.output_size(height, width)
        if size is None:
            return
        error = self.output_budget.error(type(op).__name__, width, height, *size)
        if error is not None:
            raise error

    def to_config(self):
        """The YAML op list that rebuilds this pipeline (for inference.yml)."""
        return [op.to_config() for op in self.ops]

    def __len__(self):
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __repr__(self):
        return f"Compose({self.ops})"


def _describe(img):
    if isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] <= 4:  # HWC
        return f"a {img.shape[1]}x{img.shape[0]} image"
    if isinstance(img, np.ndarray):
        return f"an array of shape {img.shape}"
    if isinstance(img, (bytes, bytearray, memoryview)):
        return f"{len(img)} bytes of image data"
    return f"a {type(img).__name__}"


def _closest(name, choices):
    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""


def build_op(entry, index=0):
    """One YAML entry ({Name: params}, {Name: None} or "Name") -> op."""
    where = f"transform_ops[{index}]"
    if isinstance(entry, str):
        entry = {entry: None}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"{where}: expected a single-key mapping like {{ResizeImage: {{resize_short: 256}}}}, "
                          f"got {entry!r}")
    (name, params), = entry.items()
    if name not in OPS:
        raise ConfigError(f"{where}: unknown transform op {name!r}{_closest(str(name), OPS)} "
                          f"(supported: {', '.join(OPS)})")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ConfigError(f"{where} {name}: expected a mapping of params, got {params!r}")
    signature = inspect.signature(OPS[name]).parameters
    for key in params:
        if key not in signature:
            listing = ", ".join(signature) or "none"
            raise ConfigError(f"{where} {name}: unknown param {key!r}{_closest(str(key), signature)} "
                              f"(accepted: {listing})")
    for key, param in signature.items():
        if param.default is inspect.Parameter.empty and key not in params:
            raise ConfigError(f"{where} {name}: missing required param {key!r}")
    try:
        return OPS[name](**params)
    except ConfigError as e:
        raise ConfigError(f"{where} {e}") from None


def build_transforms(op_list, seed=None, output_budget=None):
    """The PaddleClas YAML form (list of single-key dicts) -> Compose."""
    if not isinstance(op_list, (list, tuple)):
        raise ConfigError(f"transform_ops must be a list of ops, got {op_list!r}")
    return Compose([build_op(entry, index) for index, entry in enumerate(op_list)], seed=seed,
                   output_budget=output_budget)
