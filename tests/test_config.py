"""Config layer: PaddleClas YAML, _BASE_ inheritance, -o overrides, schema errors."""
import copy
import importlib.util
import pickle
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from ppcls_hrnet.config import TRAIN_SCHEMA, Config, load_config, validate_config
from ppcls_hrnet.errors import ConfigError

from ppcls_hrnet.models import get_spec, list_models

import paddleclas_tipc as tipc

REPO = Path(__file__).resolve().parents[1]
PADDLECLAS = REPO / "tests" / "data" / "paddleclas"  # PaddleClas's files as test data (README there)
W18 = PADDLECLAS / "HRNet_W18_C.yaml"
W48 = PADDLECLAS / "HRNet_W48_C.yaml"
CONFIGS = REPO / "configs"
QUICK_START = CONFIGS / "quick_start" / "HRNet_W18_small_v1_fashion_mnist.yaml"


def user_configs():
    """Every config a user would pass to -c (``_*.yaml`` files are bases)."""
    return sorted(p for p in CONFIGS.rglob("*.yaml") if not p.name.startswith("_"))


def config_error(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------- PaddleClas's own files

@pytest.mark.parametrize("path, name", [(W18, "HRNet_W18_C"), (W48, "HRNet_W48_C")])
def test_verbatim_paddleclas_configs_load(path, name):
    cfg = load_config(path)
    assert cfg.Arch.name == name
    assert cfg.Global.device == "gpu" and cfg.Global.epochs == 120
    assert cfg.Optimizer.lr.decay_epochs == [30, 60, 90]
    assert cfg.Optimizer.regularizer == {"name": "L2", "coeff": 0.0001}
    train_ops = cfg.DataLoader.Train.dataset.transform_ops
    assert [next(iter(op)) for op in train_ops] == ["DecodeImage", "RandCropImage", "RandFlipImage", "NormalizeImage"]
    assert train_ops[3]["NormalizeImage"]["scale"] == "1.0/255.0"  # left for the transform to read
    assert cfg.Infer.transforms[-1] == {"ToCHWImage": {}}  # `- ToCHWImage:` (null params)
    assert cfg.Infer.PostProcess.class_id_map_file == "ppcls/utils/imagenet1k_label_list.txt"


def test_missing_optional_keys_get_schema_defaults():
    cfg = load_config(W18)
    assert cfg.Global.seed is None
    assert cfg.Global.update_freq == 1
    assert cfg.Global.to_static is False
    assert cfg.EMA is None
    assert cfg.Arch.pretrained is False and cfg.Arch.infer_add_softmax is True
    assert cfg.Loss.Train == [{"CELoss": {"weight": 1.0, "epsilon": 0.0}}]
    assert cfg.Optimizer.lr.warmup_epoch == 0


def test_minimal_config_is_completed_from_the_schema():
    cfg = validate_config({"Arch": {"name": "HRNet_W18_C"}})
    assert cfg.Global.epochs == 120 and cfg.Global.image_shape == [3, 224, 224]
    assert cfg.AMP.use_amp is False
    assert cfg.Metric.Eval == [{"TopkAcc": {"topk": [1, 5]}}]
    assert cfg.Optimizer is None and cfg.DataLoader.Train is None and cfg.Infer is None
    with pytest.raises(ConfigError, match="training needs Optimizer in the config"):
        cfg.require("Optimizer", "training")


def tipc_train_overrides():
    """The -o settings test_tipc's lite_train_lite_infer chain passes to train/eval/export (the
    first of each `a|b`). Like its func_set_params, values null or empty are not passed."""
    overrides = []
    for section in ("train_params", "eval_params", "export"):
        lines = tipc.read_sections()[section]
        for key, value in tipc.settings(lines):
            value = tipc.choices(value)[0]
            if value not in ("", "null"):
                overrides.append(f"{key}={value}")
        overrides += [f"{key}={value}" for key, value in tipc.command_flags(lines)]
    return overrides


def test_test_tipc_chain_overrides_are_accepted():
    overrides = tipc_train_overrides()
    assert sorted(o.split("=")[0] for o in overrides) == sorted([
        "Global.device", "Global.epochs", "Global.output_dir", "DataLoader.Train.sampler.batch_size",
        "Global.seed", "DataLoader.Train.sampler.shuffle", "DataLoader.Train.loader.num_workers",
        "DataLoader.Train.loader.use_shared_memory", "Global.eval_during_train", "Global.save_interval",
        "Global.to_static", "Global.save_inference_dir",
    ])
    # the chain's eval/export add the trained weights; auto_cast null may be passed literally
    cfg = load_config(W18, overrides + ["Global.pretrained_model=./output/latest", "Global.auto_cast=null"])
    assert cfg.Global.seed == 1234 and cfg.Global.to_static is True and cfg.Global.epochs == 2
    assert cfg.DataLoader.Train.sampler.batch_size == 8 and cfg.DataLoader.Train.sampler.shuffle is False
    assert cfg.DataLoader.Train.loader == {"num_workers": 0, "use_shared_memory": False}
    assert cfg.Global.pretrained_model == "./output/latest" and cfg.Global.save_interval == 2


def tipc_train_flags():
    """Every (key, value) the file gives train/eval/export: each choice, literal nulls included."""
    flags = []
    for section in ("train_params", "eval_params", "export"):
        lines = tipc.read_sections()[section]
        for key, value in tipc.settings(lines):
            # empty: the chain fills in the trained weights
            flags += [(key, choice or "./output/HRNet_W18_C/latest") for choice in tipc.choices(value)]
        flags += tipc.command_flags(lines)
    return flags


def test_tipc_train_flags_cover_the_file():
    keys = {key for key, _ in tipc_train_flags()}
    assert keys == {
        "Global.device", "Global.auto_cast", "Global.epochs", "Global.output_dir",
        "DataLoader.Train.sampler.batch_size", "Global.pretrained_model", "Global.seed",
        "DataLoader.Train.sampler.shuffle", "DataLoader.Train.loader.num_workers",
        "DataLoader.Train.loader.use_shared_memory", "Global.eval_during_train", "Global.save_interval",
        "Global.to_static", "Global.save_inference_dir",
    }
    assert ("Global.epochs", "120") in tipc_train_flags()  # whole_train_whole_infer's value too


@pytest.mark.parametrize("key, value", [pytest.param(*flag, id="=".join(flag)) for flag in tipc_train_flags()])
def test_every_tipc_train_eval_export_flag_is_accepted(key, value):
    cfg = load_config(W18, [f"{key}={value}"])
    assert cfg.get_path(key) == yaml.safe_load(value)


# ------------------------------------------------------------ our config files

def test_every_config_file_loads_with_a_registered_model():
    files = user_configs()
    assert len(files) >= len(list_models()) + 1
    for path in files:
        cfg = load_config(path)
        assert cfg.Arch.name in list_models(), path


def test_every_registered_model_has_an_imagenet_config():
    for name in list_models():
        cfg = load_config(CONFIGS / "ImageNet" / "HRNet" / f"{name}.yaml")
        assert cfg.Arch.name == name
        assert cfg.Arch.class_num == 1000 and cfg.Optimizer.lr["values"] == [0.1, 0.01, 0.001, 0.0001]


def test_model_configs_only_name_their_model_and_its_native_size():
    for name in list_models():
        data = yaml.safe_load((CONFIGS / "ImageNet" / "HRNet" / f"{name}.yaml").read_text())
        size = get_spec(name).native_size
        if size == 224:
            assert data == {"_BASE_": "_base_.yaml", "Arch": {"name": name}}
            continue
        assert data["_BASE_"] == "_base_.yaml" and data["Arch"] == {"name": name}
        cfg = load_config(CONFIGS / "ImageNet" / "HRNet" / f"{name}.yaml")
        assert cfg.Global.image_shape == [3, size, size]
        crops = [op for split in ("Train", "Eval") for op in cfg.DataLoader[split].dataset.transform_ops
                 if {"RandCropImage", "CropImage"} & set(op)] + [op for op in cfg.Infer.transforms if "CropImage" in op]
        assert [list(op.values())[0]["size"] for op in crops] == [size] * 3


def test_generated_model_configs_are_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_configs", REPO / "tools" / "gen_configs.py")
    gen_configs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_configs)
    assert gen_configs.stale_configs() == [], "run: python tools/gen_configs.py"


def test_quick_start_config():
    cfg = load_config(QUICK_START)
    assert cfg.Arch.name == "HRNet_W18_small_v1" and cfg.Arch.class_num == 10
    assert cfg.Global.device == "cpu"
    _, height, width = cfg.Global.image_shape
    assert height % 32 == 0 and width % 32 == 0 and height <= 96
    assert cfg.Optimizer.name == "Momentum" and cfg.Optimizer.lr.name == "Cosine"
    assert cfg.Optimizer.lr.warmup_epoch >= 1
    train, test = cfg.DataLoader.Train.dataset, cfg.DataLoader.Eval.dataset
    assert train.cls_label_path == "./dataset/fashion_mnist/train_list.txt"
    assert test.cls_label_path == "./dataset/fashion_mnist/test_list.txt"
    assert cfg.Infer.PostProcess.class_id_map_file == "./dataset/fashion_mnist/label_names.txt"
    resize = [op["ResizeImage"] for op in cfg.Infer.transforms if "ResizeImage" in op]
    assert resize == [{"size": height}]


def test_every_config_transform_list_builds():
    from ppcls_hrnet.preprocess.transforms import build_transforms

    for path in user_configs() + [W18]:
        cfg = load_config(path)
        for split in ("Train", "Eval"):
            assert len(build_transforms(cfg.DataLoader[split].dataset.transform_ops)) >= 3, (path, split)
        assert len(build_transforms(cfg.Infer.transforms)) >= 4, path


def test_yaml_anchors_are_copies_so_an_override_changes_one_place():
    cfg = load_config(QUICK_START, ["DataLoader.Train.dataset.transform_ops.3.NormalizeImage.order=hwc"])
    assert cfg.DataLoader.Train.dataset.transform_ops[3]["NormalizeImage"]["order"] == "hwc"
    assert cfg.DataLoader.Eval.dataset.transform_ops[2]["NormalizeImage"]["order"] == ""
    assert cfg.Infer.transforms[2]["NormalizeImage"]["order"] == ""


# ------------------------------------------------------------------ overrides

def test_overrides_of_nested_keys_and_list_indices():
    cfg = load_config(W18, [
        "Global.epochs=3",
        "Global.output_dir=out dir/",
        "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=96",
        "Loss.Train.0.CELoss.epsilon=0.1",
        "Metric.Eval.0.TopkAcc.topk=[1, 2]",
        "Optimizer.lr.values=[0.2,0.02,0.002,0.0002]",
        "Optimizer.lr.warmup_epoch=5",
        "Optimizer.regularizer.coeff=5e-5",  # YAML reads 5e-5 as text; float keys take it
        "Arch.pretrained=True",
        "Infer.PostProcess.class_id_map_file=null",
        "Global.epochs=4",  # later wins
    ])
    assert cfg.Global.epochs == 4 and cfg.Global.output_dir == "out dir/"
    assert cfg.DataLoader.Train.dataset.transform_ops[1] == {"RandCropImage": {"size": 96}}
    assert cfg.Loss.Train[0]["CELoss"]["epsilon"] == 0.1
    assert cfg.Metric.Eval[0]["TopkAcc"]["topk"] == [1, 2]
    assert cfg.Optimizer.lr["values"] == [0.2, 0.02, 0.002, 0.0002] and cfg.Optimizer.lr.warmup_epoch == 5
    assert cfg.Optimizer.regularizer.coeff == pytest.approx(5e-5)
    assert cfg.Arch.pretrained is True and cfg.Infer.PostProcess.class_id_map_file is None


def test_override_can_set_optional_keys_and_sections_absent_from_the_file():
    cfg = load_config(W18, ["Global.update_freq=4", "EMA.decay=0.999", "Arch.pretrained=./w.pdparams"])
    assert cfg.Global.update_freq == 4 and cfg.EMA == {"decay": 0.999} and cfg.Arch.pretrained == "./w.pdparams"


def test_override_can_replace_a_whole_section_with_a_yaml_mapping():
    cfg = load_config(W18, ["Optimizer.lr={name: Cosine, learning_rate: 0.2, warmup_epoch: 5}"])
    assert cfg.Optimizer.lr == {"name": "Cosine", "learning_rate": 0.2, "eta_min": 0.0,
                                "warmup_epoch": 5, "warmup_start_lr": 0.0}


@pytest.mark.parametrize("override, message", [
    ("Global.epochs", "-o Global.epochs: expected key=value"),
    ("Global..epochs=1", "not a dotted key"),
    ("Loss.Train.3.CELoss.weight=1", "Loss.Train has 1 items, so index 3 does not exist"),
    ("Loss.Train.first.CELoss.weight=1", "Loss.Train is a list: use an index 0..0, not 'first'"),
    ("Global.epochs.max=1", "Global.epochs is 120, not a section or list"),
])
def test_malformed_overrides(override, message):
    assert message in config_error(W18, [override])


def test_override_values_are_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    message = config_error(W18, [f"Global.epochs={code}"])
    assert "Global.epochs: expected int, got" in message and "__import__" in message
    cfg = load_config(W18, [f"Global.output_dir={code}"])
    assert cfg.Global.output_dir == code  # kept as text
    assert "expected int, got '10 * 10' (str)" in config_error(W18, ["Arch.class_num=10 * 10"])
    assert not marker.exists()


# ------------------------------------------------------------ schema errors

def test_unknown_key_in_file_names_it_and_suggests(tmp_path):
    path = write(tmp_path, "c.yaml", f"""\
        _BASE_: {W18}
        Global:
          epoch: 3
        Optimzer:
          momentum: 0.8
        """)
    message = config_error(path)
    assert "2 problems" in message
    assert "Global.epoch: unknown key. Did you mean Global.epochs?" in message
    assert "Optimzer: unknown key. Did you mean Optimizer?" in message


def test_unknown_key_from_override_names_the_override():
    message = config_error(W18, ["DataLoader.Train.sampler.batchsize=8"])
    assert ("DataLoader.Train.sampler.batchsize: unknown key. Did you mean DataLoader.Train.sampler.batch_size? "
            "(set by -o DataLoader.Train.sampler.batchsize=8)") in message
    message = config_error(W18, ["Globl.seed=1"])
    assert "Globl: unknown key. Did you mean Global?" in message and "-o Globl.seed=1" in message


def test_unknown_key_without_a_near_match_lists_the_valid_ones():
    message = config_error(W18, ["AMP.turbo=True"])
    assert "AMP.turbo: unknown key. Valid keys here: use_amp, use_fp16_test, scale_loss" in message


def test_keys_of_another_variant_are_unknown():
    message = config_error(W18, ["Optimizer.lr.name=Cosine"])
    assert "Optimizer.lr.decay_epochs: unknown key. Valid keys for name Cosine: name, learning_rate" in message


@pytest.mark.parametrize("override, message", [
    ("Optimizer.lr.name=Cosin", "Optimizer.lr.name: 'Cosin' is not one of: Piecewise, Cosine. Did you mean Cosine?"),
    ("Optimizer.name=SGD", "Optimizer.name: 'SGD' is not one of: Momentum."),
    ("DataLoader.Train.dataset.transform_ops.1=RandCrop",
     "DataLoader.Train.dataset.transform_ops.1.RandCrop: unknown op. "
     "Did you mean DataLoader.Train.dataset.transform_ops.1.RandCropImage, "
     "DataLoader.Train.dataset.transform_ops.1.RandomCropImage?"),
    ("Loss.Train.0={FocalLoss: {}}", "Loss.Train.0.FocalLoss: unknown op. Valid ops here: CELoss."),
    ("Global.device=tpu", "Global.device: 'tpu' is not one of: cpu, gpu"),
    ("AMP.level=O3", "AMP.level: 'O3' is not one of: O1, O2."),
])
def test_unknown_names_suggest_valid_ones(override, message):
    assert message in config_error(W18, [override])


def test_unknown_model_lists_registered_names():
    message = config_error(W18, ["Arch.name=HRNet_W18"])
    assert "Arch.name: 'HRNet_W18' is not one of:" in message
    assert all(name in message for name in list_models())
    assert "Did you mean HRNet_W18_C" in message


@pytest.mark.parametrize("override, message", [
    ("Global.epochs=abc", "Global.epochs: expected int, got 'abc' (str)"),
    ("Global.epochs=True", "Global.epochs: expected int, got True (bool)"),
    ("DataLoader.Train.sampler.batch_size=1.5", "DataLoader.Train.sampler.batch_size: expected int, got 1.5 (float)"),
    ("DataLoader.Train.sampler.batch_size=0", "DataLoader.Train.sampler.batch_size: must be >= 1, got 0"),
    ("Global.eval_during_train=maybe", "Global.eval_during_train: expected bool, got 'maybe' (str)"),
    ("Global.seed=1.0", "Global.seed: expected int or null, got 1.0 (float)"),
    ("Global.auto_cast=amp", "Global.auto_cast: expected null, got 'amp' (str)"),
    ("Arch.pretrained=1", "Arch.pretrained: expected bool or str, got 1 (int)"),
    ("Optimizer.lr.learning_rate=fast", "Optimizer.lr.learning_rate: expected float or null, got 'fast' (str)"),
    ("Optimizer.lr.decay_epochs=30", "Optimizer.lr.decay_epochs: expected list of int, got 30 (int)"),
    ("Optimizer.lr.decay_epochs=[30, x]", "Optimizer.lr.decay_epochs: expected list of int, got [30, 'x'] (list)"),
    ("Global.image_shape=[3, 100, 100]", "Global.image_shape: height and width must be positive multiples of 32"),
    ("Global.image_shape=[1, 64, 64]", "Global.image_shape: expected [3, height, width], got [1, 64, 64]"),
    ("Optimizer.lr.values=[0.1]", "Optimizer.lr: values needs one more entry than decay_epochs (3 + 1), got 1"),
    ("Loss.Train.0.CELoss.epsilon=2", "Loss.Train.0.CELoss.epsilon: must be <= 1, got 2.0"),
    ("Metric.Train.0.TopkAcc.topk=[0]", "Metric.Train.0.TopkAcc.topk: expected positive ks like [1, 5], got [0]"),
    ("Optimizer.lr=0.1", "Optimizer.lr: expected a mapping with `name: <Piecewise|Cosine>`, got 0.1 (float)"),
    ("Global=3", "Global: expected a mapping with keys checkpoints, pretrained_model"),
    ("Infer.transforms=DecodeImage", "Infer.transforms: expected a list of `- OpName: {params}` items"),
    ("Infer.transforms.0.DecodeImage=[1]", "Infer.transforms.0.DecodeImage: expected a mapping of parameters"),
])
def test_wrong_types_name_key_expected_type_and_value(override, message):
    assert message in config_error(W18, [override])


def test_missing_required_keys(tmp_path):
    path = write(tmp_path, "c.yaml", """\
        Arch: {class_num: 10}
        Optimizer: {lr: {name: Cosine}}
        DataLoader:
          Train:
            dataset: {image_root: ./data/}
        """)
    message = config_error(path)
    for key in ("Arch.name", "Optimizer.lr.learning_rate", "DataLoader.Train.dataset.cls_label_path",
                "DataLoader.Train.dataset.transform_ops"):
        assert f"{key}: missing required key" in message


# --------------------------------------------------------- _BASE_ inheritance

def test_base_inheritance_deep_merges_and_replaces_lists(tmp_path):
    write(tmp_path, "bases/root.yaml", """\
        Global: {epochs: 10, seed: 1, output_dir: ./root/}
        Arch: {name: HRNet_W18_C, class_num: 5}
        Metric:
          Eval: [{TopkAcc: {topk: [1, 5]}}]
        """)
    write(tmp_path, "bases/mid.yaml", """\
        _BASE_: root.yaml
        Global: {epochs: 20}
        """)
    child = write(tmp_path, "models/child.yaml", """\
        _BASE_: ../bases/mid.yaml
        Global: {seed: 7}
        Arch: {name: HRNet_W32_C}
        Metric:
          Eval: [{TopkAcc: {topk: [1]}}]
        """)
    cfg = load_config(child)
    assert (cfg.Global.epochs, cfg.Global.seed, cfg.Global.output_dir) == (20, 7, "./root/")
    assert cfg.Arch.name == "HRNet_W32_C" and cfg.Arch.class_num == 5
    assert cfg.Metric.Eval == [{"TopkAcc": {"topk": [1]}}]
    assert load_config(child, ["Global.epochs=2"]).Global.epochs == 2


def test_base_list_merges_in_order(tmp_path):
    write(tmp_path, "a.yaml", "Global: {epochs: 1, seed: 1}\n")
    write(tmp_path, "b.yaml", "Global: {epochs: 2}\n")
    child = write(tmp_path, "c.yaml", "_BASE_: [a.yaml, b.yaml]\nArch: {name: HRNet_W18_C}\n")
    cfg = load_config(child)
    assert (cfg.Global.epochs, cfg.Global.seed) == (2, 1)


def test_base_errors(tmp_path):
    missing = write(tmp_path, "m.yaml", "_BASE_: nowhere.yaml\n")
    message = config_error(missing)
    assert "cannot read config file" in message and "nowhere.yaml" in message and "_BASE_ of" in message
    write(tmp_path, "x.yaml", "_BASE_: y.yaml\n")
    write(tmp_path, "y.yaml", "_BASE_: x.yaml\n")
    assert "_BASE_ files include each other" in config_error(tmp_path / "x.yaml")
    assert "_BASE_ must be a file path" in config_error(write(tmp_path, "n.yaml", "_BASE_: 3\n"))


def test_unreadable_files(tmp_path):
    assert "is not valid YAML" in config_error(write(tmp_path, "bad.yaml", "Global: [1,\n"))
    assert "expected a mapping of sections" in config_error(write(tmp_path, "list.yaml", "- 1\n"))
    assert "cannot read config file" in config_error(tmp_path / "absent.yaml")


# ------------------------------------------------------------------- Config

def test_config_access():
    cfg = load_config(W18)
    assert isinstance(cfg, Config) and isinstance(cfg, dict)
    assert cfg.Global.epochs == cfg["Global"]["epochs"] == cfg.get_path("Global.epochs") == 120
    assert cfg.get_path("DataLoader.Train.dataset.transform_ops.1.RandCropImage.size") == 224
    assert cfg.Loss.Train[0].CELoss.weight == 1.0  # mappings inside lists too
    with pytest.raises(AttributeError, match="no key 'Globl'. Did you mean Global?"):
        cfg.Globl
    with pytest.raises(AttributeError):
        cfg.Globl = {}
    assert cfg.Optimizer.lr.values == cfg.Optimizer.lr["values"] == [0.1, 0.01, 0.001, 0.0001]  # key, not method
    assert list(cfg.Arch.values())[0] == "HRNet_W18_C" and list(dict.values(cfg.Optimizer.lr))[0] == "Piecewise"
    plain = cfg.to_dict()
    assert type(plain["Global"]) is dict and type(plain["Loss"]["Train"][0]) is dict
    assert yaml.safe_load(cfg.to_yaml()) == plain
    assert validate_config(plain) == cfg  # a resolved config validates to itself
    assert pickle.loads(pickle.dumps(cfg)) == cfg and type(copy.deepcopy(cfg).Global) is Config


def test_schema_is_one_table():
    assert set(TRAIN_SCHEMA.fields) == {"Global", "AMP", "EMA", "Arch", "Loss", "Optimizer", "DataLoader",
                                        "Infer", "Metric"}
