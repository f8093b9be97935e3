"""Do two engines compute the same model? Max difference and top-1 agreement on real images."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..preprocess.images import iter_image_batches, list_images
from ..preprocess.errors import DataError


@dataclass(frozen=True)
class ParityReport:
    images: int
    max_abs_diff: float
    max_abs_output: float  # of the reference, to judge the difference against
    top1_agreement: float  # fraction of images with the same argmax

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.max_abs_output, 1e-12)

    def summary(self, reference: str, other: str) -> str:
        return (f"{other} vs {reference} on {self.images} images: max |diff| {self.max_abs_diff:.3g} "
                f"({self.relative_diff:.2g} of the largest output), top-1 agreement "
                f"{100 * self.top1_agreement:.2f}%")


def compare_engines(reference, other, deploy, sources: Sequence[str], batch_size: int = 8) -> ParityReport:
    """Run both engines on ``sources`` preprocessed by the model's inference.yml."""
    transforms = deploy.build_transforms()
    ref_out, other_out = [], []
    for batch in iter_image_batches(list_images(sources), transforms, batch_size):
        if batch.images is None:
            continue
        ref_out.append(reference.run(batch.images))
        other_out.append(other.run(batch.images))
    if not ref_out:
        raise DataError(f"none of {len(sources)} check inputs could be read as an image")
    ref, out = np.concatenate(ref_out), np.concatenate(other_out)
    return ParityReport(images=len(ref), max_abs_diff=float(np.abs(ref - out).max()),
                        max_abs_output=float(np.abs(ref).max()),
                        top1_agreement=float((ref.argmax(1) == out.argmax(1)).mean()))
