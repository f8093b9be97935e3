"""Real photographs as photo-sized JPEGs for the benchmarks, offline.

The source is Debian's ``mate-backgrounds`` package (GPL-2+): its ``nature/``
folder holds 12 camera photographs (flowers, a ladybird, grass, a dune, a
storm, a water drop, wood; 1280x1024 to 2560x1920, 1.3-4.9 MP)::

    apt-get install mate-backgrounds      # /usr/share/backgrounds/mate/nature/*.jpg, ~46 MB

:func:`write_photos` re-encodes them (OpenCV, JPEG quality 90) with the long
side scaled down to ``long_side`` (never up; 0: native size). More files than
photos: the photos again, mirrored on odd passes and cropped a few per cent
more on later ones, so that no two files are the same bytes.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Tuple

PHOTO_DIR = Path("/usr/share/backgrounds/mate/nature")
PACKAGE = "mate-backgrounds"
INSTALL = f"apt-get install {PACKAGE}"


def source_photos(photo_dir=PHOTO_DIR) -> List[Path]:
    photos = sorted(p for p in Path(photo_dir).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"photos: no JPEG/PNG in {photo_dir}: install Debian's {PACKAGE} (`{INSTALL}`), "
                         "or pass --images DIR (serve_load.py: or --image_source fashion_mnist)")
    return photos


def package_version(photo_dir=PHOTO_DIR) -> str:
    """``mate-backgrounds 1.26.0-1`` when the photos come from the installed package, else the folder."""
    if Path(photo_dir) != PHOTO_DIR:
        return str(photo_dir)
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE], capture_output=True, text=True,
                             timeout=30)
        version = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    return f"Debian {PACKAGE} {version}".strip() + f" ({photo_dir})"


def write_photos(out_dir, count: int, long_side: int = 1600, quality: int = 90,
                 photo_dir=PHOTO_DIR) -> Tuple[List[Path], dict]:
    """``count`` JPEGs in ``out_dir`` (reused when already written the same way) and a description:
    source, photos used, pixel sizes, mean bytes."""
    import cv2

    photos = source_photos(photo_dir)
    out = Path(out_dir) / f"photos_{long_side or 'native'}_q{quality}"
    out.mkdir(parents=True, exist_ok=True)
    paths, sizes = [], []
    for index in range(count):
        photo = photos[index % len(photos)]
        variant = index // len(photos)
        path = out / f"{index:03d}_{photo.stem}_v{variant}.jpg"
        if path.is_file():
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        else:
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"photos: cannot decode {photo}")
            if variant:
                margin = 0.03 * (variant // 2)  # 0, 0, 3 %, 3 %, 6 %, ... of each side
                h, w = image.shape[:2]
                image = image[int(h * margin):h - int(h * margin), int(w * margin):w - int(w * margin)]
                if variant % 2:
                    image = image[:, ::-1]
            h, w = image.shape[:2]
            scale = min(1.0, long_side / max(h, w)) if long_side else 1.0
            if scale < 1.0:
                image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise SystemExit(f"photos: cannot write {path}")
        sizes.append((image.shape[1], image.shape[0]))
        paths.append(path)
    nbytes = [p.stat().st_size for p in paths]
    megapixels = [w * h / 1e6 for w, h in sizes]
    info = {
        "source": package_version(photo_dir),
        "photos": [p.name for p in photos[:min(count, len(photos))]],
        "count": count,
        "jpeg_quality": quality,
        "long_side": long_side or "native",
        "sizes": sorted({f"{w}x{h}" for w, h in sizes}),
        "mean_megapixels": round(sum(megapixels) / len(megapixels), 2) if sizes else 0,
        "mean_bytes": round(sum(nbytes) / len(nbytes)) if nbytes else 0,
    }
    return paths, info

