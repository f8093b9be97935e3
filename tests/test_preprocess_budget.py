"""The preprocessing output budget (Compose(output_budget=...)): a resize, crop or pad that would
make a bigger image than the caller needs is refused before it runs; without a budget only the
global pixel limit applies, as before. And the predictor's stop hook (predict_encoded should_stop)."""
import dataclasses

import cv2
import numpy as np
import pytest

from ppcls_hrnet.errors import ConfigError
from ppcls_hrnet.preprocess.errors import ImageError
from ppcls_hrnet.preprocess.transforms import OutputBudget, build_transforms, opencv_decoder_limit
from ppcls_hrnet.runtime.contract import read_deploy_config

RESIZE_SHORT = [{"DecodeImage": {"to_rgb": True, "channel_first": False}}, {"ResizeImage": {"resize_short": 32}},
                {"CropImage": {"size": 32}}, {"NormalizeImage": {"order": ""}}, {"ToCHWImage": None}]
BUDGET = OutputBudget(16 * 32 * 32, "16 x the model input 32x32; raise --max_resize_multiple to allow more")


def png(width, height):
    return cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))[1].tobytes()


@pytest.mark.parametrize("width, height, resized", [(2048, 1, "65536x32"), (1, 2048, "32x65536")])
def test_thin_image_is_refused_before_it_is_resized(monkeypatch, width, height, resized):
    transforms = build_transforms(RESIZE_SHORT, output_budget=BUDGET)
    monkeypatch.setattr(cv2, "resize", lambda *a, **k: pytest.fail("resized"))
    with pytest.raises(ImageError) as info:
        transforms(png(width, height))
    assert str(info.value) == (
        f"ResizeImage would turn this {width}x{height} image into {resized} = 2,097,152 pixels, over the limit "
        "of 16,384 pixels for one image (16 x the model input 32x32; raise --max_resize_multiple to allow more); "
        "send a smaller or less elongated image")


IMAGENET = [RESIZE_SHORT[0], {"ResizeImage": {"resize_short": 256}}, *RESIZE_SHORT[2:]]
GLOBAL_LIMIT = r"^ResizeImage: resizing this 30000x2 image to 3840000x256 would make 983,040,000 pixels, over the limit"


def test_without_a_budget_only_the_global_limit_applies():
    assert build_transforms(RESIZE_SHORT)(png(2048, 1)).shape == (3, 32, 32)
    with pytest.raises(ImageError, match=GLOBAL_LIMIT):
        build_transforms(IMAGENET)(png(30000, 2))


def test_global_limit_message_is_kept_under_a_larger_budget():
    with pytest.raises(ImageError, match=GLOBAL_LIMIT):
        build_transforms(IMAGENET, output_budget=OutputBudget(1 << 40))(png(30000, 2))


def test_images_within_the_budget_and_fixed_size_resizes_pass():
    assert build_transforms(RESIZE_SHORT, output_budget=BUDGET)(png(400, 40)).shape == (3, 32, 32)  # 320x32
    fixed = [RESIZE_SHORT[0], {"ResizeImage": {"size": 32}}, *RESIZE_SHORT[3:]]
    assert build_transforms(fixed, output_budget=BUDGET)(png(2048, 1)).shape == (3, 32, 32)


def test_crop_and_pad_are_held_to_the_budget_too():
    crop = [RESIZE_SHORT[0], {"CropImage": {"size": 200}}]
    with pytest.raises(ImageError, match="CropImage would turn this 300x300 image into 200x200 = 40,000 pixels"):
        build_transforms(crop, output_budget=BUDGET)(png(300, 300))
    pad = [RESIZE_SHORT[0], {"Pad": {"padding": 100}}]
    with pytest.raises(ImageError, match="Pad would turn this 10x10 image into 210x210"):
        build_transforms(pad, output_budget=BUDGET)(png(10, 10))
    with pytest.raises(ConfigError):
        OutputBudget(0)


def test_deploy_config_budget_is_a_multiple_of_the_model_input(small_deploy):
    deploy = read_deploy_config(small_deploy[0])
    budget = deploy.input_budget(16, "--max_resize_multiple")
    assert budget == OutputBudget(16384, "16 x the model input 32x32; raise --max_resize_multiple to allow more")
    thin = dataclasses.replace(deploy, transform_ops=RESIZE_SHORT)
    with pytest.raises(ImageError, match="over the limit of 16,384 pixels"):
        thin.build_transforms(budget)(png(2048, 1))
    assert thin.build_transforms()(png(2048, 1)).shape == (3, 32, 32)


def test_opencv_decoder_limit_is_the_one_in_force(monkeypatch):
    monkeypatch.delenv("OPENCV_IO_MAX_IMAGE_PIXELS", raising=False)
    assert opencv_decoder_limit() == "1,073,741,824"
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "134217728")
    assert opencv_decoder_limit() == "134,217,728"


def test_predict_encoded_stops_before_the_next_image_or_model_run(small_deploy):
    from ppcls_hrnet.runtime.options import RuntimeOptions
    from ppcls_hrnet.runtime.predictor import ClassificationPredictor

    model_dir, image_dir, _ = small_deploy
    predictor = ClassificationPredictor(model_dir, RuntimeOptions(backend="openvino"), batch_size=2)
    images = [p.read_bytes() for p in sorted(image_dir.rglob("*.png"))[:5]]
    asked = []

    def stop_at(call):
        return lambda: asked.append(1) or len(asked) >= call

    # batch 1: image 0, image 1, model run (asks 1-3); batch 2: image 2 (ask 4), ...
    assert len(predictor.predict_encoded(images, should_stop=stop_at(4))) == 2
    assert predictor.times.batches == 1
    asked.clear()
    assert predictor.predict_encoded(images, should_stop=stop_at(3)) == []  # before the first model run
    assert predictor.times.batches == 1
    assert len(predictor.predict_encoded(images, should_stop=lambda: False)) == 5
    assert predictor.times.batches == 4
