"""The `ppcls-hrnet` console script, run in-process."""
import ast
import json

from ppcls_hrnet.cli import build_parser, main
from ppcls_hrnet.config import PREDICT_SCHEMA
from ppcls_hrnet.runtime.options import PREDICTOR_OPTIONS


def test_models_table_is_measured_and_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path))
    assert main(["models", "HRNet_W18_small_*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"HRNet_W18_small_v1", "HRNet_W18_small_v2"}
    assert rows["HRNet_W18_small_v1"][1:3] == ["13.184", "1.60"]
    assert rows["HRNet_W18_small_v2"][1:3] == ["15.594", "2.60"]
    cache = json.loads((tmp_path / "complexity.json").read_text())
    assert sorted(v[0] for v in cache.values()) == [13183624, 15593624]
    # a second run reads the cache: poison it to prove the numbers come from there
    for key in cache:
        cache[key] = [1_000_000, 2_000_000_000]
    (tmp_path / "complexity.json").write_text(json.dumps(cache))
    assert main(["models", "HRNet_W18_small_v1"]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[1:3] == ["1.000", "2.00"]


def test_models_unknown_pattern_is_a_clear_error(capsys):
    assert main(["models", "ResNet*"]) == 2
    assert "no model matches 'ResNet*'" in capsys.readouterr().err


def test_train_eval_infer_through_the_cli(tmp_path, capsys):
    from conftest import QUICK_START, fashion_overrides, make_fashion_subset

    data = make_fashion_subset(tmp_path / "data", 64, 20)
    out = tmp_path / "out"
    common = ["-c", str(QUICK_START)]
    for o in fashion_overrides(data) + [f"Global.output_dir={out}", "Global.epochs=1",
                                        "DataLoader.Train.sampler.batch_size=32"]:
        common += ["-o", o]
    assert main(["train", *common]) == 0
    weights = f"Global.pretrained_model={out}/HRNet_W18_small_v1/latest"
    assert main(["eval", *common, "-o", weights]) == 0
    one_image = next((data / "images/test/Bag").iterdir())
    capsys.readouterr()
    assert main(["infer", *common, "-o", weights, "-o", f"Infer.infer_imgs={one_image}"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and str(one_image) in printed[0]
    result = ast.literal_eval(printed[0])  # the printed dict, as PaddleClas prints it
    assert len(result["class_ids"]) == 3 and len(result["label_names"]) == 3
    assert result["scores"] == sorted(result["scores"], reverse=True)
    # no weights: a plain error, not random predictions
    assert main(["infer", *common, "-o", f"Infer.infer_imgs={one_image}"]) == 2
    assert "infer needs trained weights" in capsys.readouterr().err


def test_predict_flags_and_deploy_config_differ_only_in_paddleclas_defaults():
    flags = build_parser("predict").parse_args(["predict", "--infer_imgs", "photo.jpg"])
    deploy_keys = {**PREDICT_SCHEMA.fields["Global"].fields, **PREDICT_SCHEMA.fields["PostProcess"].fields["Topk"].fields}
    shared = [name for name in PREDICTOR_OPTIONS if name != "cpu_pinning"]  # a serve flag only
    differing = {name: (getattr(flags, name), deploy_keys[name].default) for name in shared
                 if getattr(flags, name) != deploy_keys[name].default}
    # PaddleClas's deploy/configs and predict_cls.py: an 8000 MB pool, Paddle Inference
    assert differing == {"gpu_mem": (500, 8000), "backend": ("auto", "paddle")}
