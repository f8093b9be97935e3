"""Registry-wide model tests: every variant is checked the day it is added."""
import numpy as np
import paddle
import pytest

from conftest import apply_reference_weights, fixture_manifest, DATA
from ppcls_hrnet import UnknownModelError
from ppcls_hrnet.models import ARCH_TABLE, FEATURE_STRIDES, HRNetSpec, StageSpec, create_model, list_models
from ppcls_hrnet.models.complexity import count_macs, count_params

SIZE = 64  # smallest input that keeps every stride-32 map non-empty
FIXTURES = sorted(p.name[: -len(".keys.json")] for p in DATA.glob("*.keys.json"))
LOGIT_FIXTURES = sorted(p.name[: -len(".logits.npy")] for p in DATA.glob("*.logits.npy"))


@pytest.fixture(scope="module", params=list_models())
def model(request):
    paddle.seed(0)
    return create_model(request.param, class_num=7)


def _batch(n=2, size=SIZE):
    return paddle.to_tensor(np.random.default_rng(0).standard_normal((n, 3, size, size)).astype("float32"))


def test_registry_lists_the_whole_family():
    names = list_models()
    widths = [18, 30, 32, 40, 44, 48, 60, 64]
    expected = [f"HRNet_W{w}_C" for w in widths] + [f"SE_HRNet_W{w}_C" for w in widths]
    expected += ["HRNet_W18_small_v1", "HRNet_W18_small_v2"]
    expected += [f"EffHRNet_H{k}" for k in (1, 2, 3, 4)]
    assert sorted(names) == sorted(expected)
    assert list_models("SE_*") == [n for n in names if n.startswith("SE_")]


def test_forward_shape(model):
    model.eval()
    with paddle.no_grad():
        out = model(_batch(3))
    assert out.shape == [3, 7]
    assert np.isfinite(out.numpy()).all()


def test_backward_reaches_every_parameter(model):
    model.train()
    model.clear_gradients()
    loss = paddle.nn.functional.cross_entropy(model(_batch()), paddle.to_tensor([1, 5]))
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]
    missing = [n for n, p in trainable if p.grad is None or not np.any(p.grad.numpy())]
    model.clear_gradients()
    assert not missing, f"no gradient for {missing[:5]}"


def test_feature_maps(model):
    model.eval()
    with paddle.no_grad():
        feats = model.forward_features(_batch(1))
    assert [f.shape[1] for f in feats] == [i["channels"] for i in model.feature_info]
    assert [i["stride"] for i in model.feature_info] == list(FEATURE_STRIDES)
    assert [f.shape[2] for f in feats] == [SIZE // s for s in FEATURE_STRIDES]
    assert [i["channels"] for i in model.feature_info] == list(model.spec.stages[3].channels)


def test_reset_classifier(model):
    model.eval()
    try:
        model.reset_classifier(3)
        with paddle.no_grad():
            assert model(_batch(1)).shape == [1, 3]
        model.reset_classifier(0)
        with paddle.no_grad():
            assert model(_batch(1)).shape == [1, model.spec.num_features]
        assert not any(k.startswith("fc.") for k in model.state_dict())
    finally:
        model.reset_classifier(7)


@pytest.mark.parametrize("name", ["HRNet_W18_small_v1", "HRNet_W18_C"])
def test_features_only_backbone(name):
    backbone = create_model(name, features_only=True)
    keys = list(backbone.state_dict())
    assert not any(k.startswith(("last_cls.", "cls_head_conv_list.", "conv_last.", "fc.")) for k in keys)
    backbone.eval()
    with paddle.no_grad():
        feats = backbone(_batch(1, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (i["channels"], 96 // i["stride"], 96 // i["stride"]) for i in backbone.feature_info
    ]
    with pytest.raises(RuntimeError, match="no classifier"):
        backbone.reset_classifier(10)


@pytest.mark.parametrize("name", FIXTURES)
def test_state_dict_matches_paddleclas(name):
    with paddle.LazyGuard():  # shapes only: skip initialising 100M+ parameters
        model = create_model(name)
    ref = fixture_manifest(name)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == ref["state_dict"]
    assert count_params(model) == ref["params"]


@pytest.mark.parametrize("name", LOGIT_FIXTURES)
def test_logits_match_paddleclas(name, reference_inputs):
    model = apply_reference_weights(create_model(name))
    with paddle.no_grad():
        ours = model(paddle.to_tensor(reference_inputs)).numpy()
    ref = np.load(DATA / f"{name}.logits.npy")
    raw = np.abs(ours - ref).max() / np.abs(ref).max()
    # rows are nearly collinear: also compare what distinguishes the inputs
    centred_ref = ref - ref.mean(0)
    centred = np.abs((ours - ours.mean(0)) - centred_ref).max() / np.abs(centred_ref).max()
    assert raw < 1e-5 and centred < 1e-4, (raw, centred)


PUBLISHED_PARAMS_M = {"HRNet_W18_C": 21.29, "HRNet_W30_C": 37.71, "HRNet_W32_C": 41.23, "HRNet_W40_C": 57.55,
                      "HRNet_W44_C": 67.06, "HRNet_W48_C": 77.47, "HRNet_W64_C": 128.06}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_M))
def test_params_equal_published_table(name):
    with paddle.LazyGuard():
        model = create_model(name)
    # the table has 2 decimals, rounded either way (W18 21,295,164 -> 21.29, W30 37,708,380 -> 37.71)
    assert abs(count_params(model) / 1e6 - PUBLISHED_PARAMS_M[name]) <= 0.0052
    assert ARCH_TABLE[name].published.params_m == PUBLISHED_PARAMS_M[name]


@pytest.mark.parametrize("name,gmacs", [("HRNet_W18_C", 4.28), ("HRNet_W48_C", 17.28),
                                        ("HRNet_W18_small_v1", 1.60), ("HRNet_W18_small_v2", 2.60)])
def test_macs_at_224(name, gmacs):
    assert count_macs(create_model(name), 224) / 1e9 == pytest.approx(gmacs, abs=0.005)


def test_unknown_model_name_lists_valid_ones():
    with pytest.raises(UnknownModelError) as e:
        create_model("HRNet_W18")
    msg = str(e.value)
    assert "'HRNet_W18'" in msg and "Did you mean HRNet_W18_C" in msg
    assert all(n in msg for n in list_models())


def test_unknown_keyword_lists_valid_ones():
    with pytest.raises(TypeError, match=r"unknown keyword 'num_classes'.*class_num"):
        create_model("HRNet_W18_small_v1", num_classes=10)


def test_bad_class_num():
    with pytest.raises(ValueError, match="class_num"):
        create_model("HRNet_W18_small_v1", class_num=-1)


def test_spec_table_validates_rows():
    with pytest.raises(ValueError, match="block must be one of"):
        StageSpec(1, "BASICC", (4,), (18,))
    with pytest.raises(ValueError, match="one entry per branch"):
        StageSpec(1, "BASIC", (4, 4), (18,))
    good = ARCH_TABLE["HRNet_W18_C"].stages
    with pytest.raises(ValueError, match="stage 3 must have 3 branches"):
        HRNetSpec("bad", (good[0], good[1], good[1], good[3]))
    widened = StageSpec(1, "BASIC", (4, 4, 4, 4), (18, 40, 72, 144))
    with pytest.raises(ValueError, match="must extend the previous stage"):
        HRNetSpec("bad", (good[0], good[1], good[2], widened))


# ------------------------------------------------------- the real-time family

FAMILY = ["HRNet_W18_small_v2"] + [f"EffHRNet_H{k}" for k in (1, 2, 3, 4)]  # phi = 0, -1, ..., -4


def test_family_scales_every_dimension_together():
    specs = [ARCH_TABLE[n] for n in FAMILY]
    for big, small in zip(specs, specs[1:]):
        for a, b in zip(big.stages, small.stages):
            assert b.channels <= a.channels and b.num_blocks <= a.num_blocks and b.num_modules <= a.num_modules
        assert small.stem_channels < big.stem_channels and small.num_features < big.num_features
        assert all(h2 <= h1 for h1, h2 in zip(big.head_channels, small.head_channels))
        assert small.native_size <= big.native_size
    # over the whole range each dimension shrinks, not just one of them
    first, last = specs[0], specs[-1]
    assert last.stages[3].channels[0] < first.stages[3].channels[0]
    assert sum(s.num_modules * sum(s.num_blocks) for s in last.stages) < \
        sum(s.num_modules * sum(s.num_blocks) for s in first.stages)
    assert last.native_size < first.native_size


def test_family_gets_cheaper_down_to_half_a_gmac():
    with paddle.no_grad():
        macs = [count_macs(create_model(n), 224) / 1e9 for n in FAMILY]
    assert macs == sorted(macs, reverse=True), macs
    assert macs[-1] <= 0.5, macs


def test_scaled_spec_rounds_to_valid_rows():
    from ppcls_hrnet.models.spec import scale_spec

    tiny = scale_spec(ARCH_TABLE["HRNet_W18_small_v2"], -12, "tiny")  # far below the family: floors hold
    assert min(tiny.stages[1].channels) >= 8 and tiny.stem_channels >= 8
    assert all(min(s.num_blocks) >= 1 and s.num_modules >= 1 for s in tiny.stages)
    assert tiny.native_size >= 32 and tiny.native_size % 32 == 0
    with paddle.no_grad():
        out = HRNetFromSpec(tiny)(_batch(1))
    assert out.shape == [1, 7]


def HRNetFromSpec(spec):
    from ppcls_hrnet.models.hrnet import HRNet

    return HRNet(spec, class_num=7)
