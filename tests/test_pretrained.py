"""Pretrained weights: resolving, downloading into the weights cache (against a local HTTP
server; the downloader itself is tested in test_download.py) and loading."""
import logging
import os
import pickle

import numpy as np
import paddle
import pytest

from conftest import apply_reference_weights
from test_download import FileServer, blob, free_port, server, sha256  # noqa: F401  (fixtures shared)
from ppcls_hrnet import WeightsError, create_model
from ppcls_hrnet.models import get_spec, pretrained
from ppcls_hrnet.models.pretrained import (HEAD_PREFIXES, download_weights, load_pretrained, pretrained_url,
                                           resolve_weights)

SMALL = "HRNet_W18_small_v1"


def save(state, path):
    paddle.save(state, str(path))
    return str(path)


def as_numpy(state):
    return {k: v.numpy() for k, v in state.items()}


@pytest.fixture(scope="module")
def source_model():
    return apply_reference_weights(create_model(SMALL))


@pytest.fixture(scope="module")
def source_state(source_model):
    return as_numpy(source_model.state_dict())


@pytest.fixture(scope="module")
def small_file(source_state, tmp_path_factory):
    return save(source_state, tmp_path_factory.mktemp("weights") / f"{SMALL}.pdparams")


def assert_loaded(model, state, keys):
    loaded = model.state_dict()
    for key in keys:
        np.testing.assert_array_equal(loaded[key].numpy(), state[key], err_msg=key)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def test_round_trip_gives_identical_outputs(source_model, small_file):
    model = create_model(SMALL)
    report = load_pretrained(model, small_file)
    model.eval()
    assert len(report.loaded) == len(model.state_dict())
    assert not (report.skipped_shape or report.missing or report.unexpected)
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype("float32"))
    np.testing.assert_array_equal(model(x).numpy(), source_model(x).numpy())


def test_create_model_loads_a_path_and_a_path_without_suffix(source_state, small_file):
    for given in (small_file, small_file[: -len(".pdparams")]):
        model = create_model(SMALL, pretrained=given)
        assert_loaded(model, source_state, [
            "conv_layer1_1.conv.weight", "fc.weight",
            "st4.stage_func_list.0.fuse_func.residual_func_list.0.bn._mean",
        ])


def test_other_class_num_skips_only_the_classifier_and_warns(source_state, small_file, caplog):
    model = create_model(SMALL, class_num=10)
    with caplog.at_level(logging.WARNING, logger="ppcls_hrnet"):
        report = load_pretrained(model, small_file)
    assert report.skipped_shape == [("fc.weight", (2048, 1000), (2048, 10)), ("fc.bias", (1000,), (10,))]
    assert "fc.weight" in caplog.text and "class_num=10" in caplog.text
    assert_loaded(model, source_state, ["conv_last.conv.weight", "last_cls.func_list.0.conv1.bn._variance"])


@pytest.mark.parametrize("kwargs, ignored_prefixes", [
    ({"features_only": True}, HEAD_PREFIXES),
    ({"class_num": 0}, ("fc.",)),
])
def test_headless_models_ignore_the_head_in_the_file(source_state, small_file, kwargs, ignored_prefixes):
    model = create_model(SMALL, **kwargs)
    report = load_pretrained(model, small_file)
    assert report.unexpected and all(k.startswith(ignored_prefixes) for k in report.unexpected)
    assert "fc.weight" in report.unexpected
    assert sorted(report.loaded) == sorted(model.state_dict())


def test_file_without_classifier_loads_the_rest(source_state, tmp_path):
    path = save({k: v for k, v in source_state.items() if not k.startswith("fc.")}, tmp_path / "nofc.pdparams")
    report = load_pretrained(create_model(SMALL), path)
    assert sorted(report.missing) == ["fc.bias", "fc.weight"]


def test_weights_are_cast_to_the_model_dtype(source_state, tmp_path):
    path = save({k: v.astype("float16") for k, v in source_state.items()}, tmp_path / "half.pdparams")
    model = create_model(SMALL)
    load_pretrained(model, path)
    weight = model.state_dict()["conv_layer1_1.conv.weight"]
    assert weight.dtype == paddle.float32
    np.testing.assert_array_equal(weight.numpy(), source_state["conv_layer1_1.conv.weight"].astype("float16"))


def test_weights_of_another_model_are_refused_and_named(tmp_path):
    path = save(create_model("HRNet_W18_small_v2").state_dict(), tmp_path / "v2.pdparams")
    with pytest.raises(WeightsError, match="differ in shape.*looks like weights for HRNet_W18_small_v2"):
        load_pretrained(create_model(SMALL), path)


def test_backbone_shape_mismatch_names_the_key(source_state, tmp_path):
    state = dict(source_state, **{"conv_tr2.bn.bias": np.zeros(7, "float32")})
    path = save(state, tmp_path / "bad_shape.pdparams")
    with pytest.raises(WeightsError, match=r"conv_tr2\.bn\.bias: file \[7\] vs model \[64\]"):
        load_pretrained(create_model(SMALL), path)


def test_unexpected_key_is_an_error(source_state, tmp_path):
    path = save(dict(source_state, **{"extra.weight": np.zeros(3, "float32")}), tmp_path / "extra.pdparams")
    with pytest.raises(WeightsError, match="match nothing in the model.*extra.weight"):
        load_pretrained(create_model(SMALL), path)


def test_missing_backbone_key_is_an_error(source_state, tmp_path):
    state = {k: v for k, v in source_state.items() if k != "conv_tr3.conv.weight"}
    path = save(state, tmp_path / "missing.pdparams")
    with pytest.raises(WeightsError, match="missing.*conv_tr3.conv.weight"):
        load_pretrained(create_model(SMALL), path)


def write_truncated(path, small_file):
    data = open(small_file, "rb").read()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("make, message", [
    (lambda p, _: p.write_bytes(b""), "empty"),
    (lambda p, _: p.write_text("<html>404 Not Found</html>\n"), "cannot read"),
    (write_truncated, "cannot read"),
    (lambda p, _: p.write_bytes(pickle.dumps([1, 2])), "holds a list, not a Paddle state dict"),
    (lambda p, _: p.write_bytes(pickle.dumps({"epoch": 3})), "epoch are not tensors"),
], ids=["empty", "text", "truncated", "list", "not-tensors"])
def test_unreadable_file_is_an_error(tmp_path, small_file, make, message):
    path = tmp_path / "bad.pdparams"
    make(path, small_file)
    with pytest.raises(WeightsError, match=message):
        load_pretrained(create_model(SMALL), str(path))


def test_missing_file_is_an_error(tmp_path):
    missing = str(tmp_path / "output" / "best_model")
    with pytest.raises(WeightsError, match="not found.*best_model.pdparams"):
        resolve_weights(missing, get_spec(SMALL))
    with pytest.raises(WeightsError, match="not found"):
        load_pretrained(create_model(SMALL), missing + ".pdparams")


# --------------------------------------------------------------------------
# Official URLs
# --------------------------------------------------------------------------

def test_official_urls_follow_paddleclas_names(monkeypatch):
    monkeypatch.delenv("PPCLS_HRNET_WEIGHTS_BASE", raising=False)
    assert pretrained_url(get_spec("HRNet_W18_C"), use_ssld=True) == (
        pretrained.OFFICIAL_URL_BASE + "HRNet_W18_C_ssld_pretrained.pdparams")
    monkeypatch.setenv("PPCLS_HRNET_WEIGHTS_BASE", "http://mirror.local/w")
    assert pretrained_url(get_spec("HRNet_W32_C")) == "http://mirror.local/w/HRNet_W32_C_pretrained.pdparams"


@pytest.mark.parametrize("name, use_ssld, message", [
    ("HRNet_W60_C", False, "publishes no weights"),
    ("HRNet_W18_small_v1", False, "publishes no weights"),
    ("HRNet_W32_C", True, r"no official SSLD weights \(available: pretrained \(use_ssld=False\)\)"),
    ("SE_HRNet_W64_C", False, r"available: ssld_pretrained \(use_ssld=True\)"),
])
def test_models_without_official_weights_say_what_exists(name, use_ssld, message):
    with pytest.raises(WeightsError, match=message + ".*local .pdparams path"):
        resolve_weights(True, get_spec(name), use_ssld=use_ssld)


# --------------------------------------------------------------------------
# Download against a local server
# --------------------------------------------------------------------------



def test_pretrained_true_downloads_the_official_file(server, tmp_path, monkeypatch):
    state = as_numpy(create_model("HRNet_W18_C").state_dict())
    save(state, tmp_path / "served.pdparams")
    server.files["/mirror/HRNet_W18_C_pretrained.pdparams"] = (tmp_path / "served.pdparams").read_bytes()
    monkeypatch.setenv("PPCLS_HRNET_WEIGHTS_BASE", server.url("/mirror/"))
    model = create_model("HRNet_W18_C", pretrained=True, cache_dir=str(tmp_path / "cache"))
    assert_loaded(model, state, [
        "conv_layer1_1.conv.weight", "fc.bias",
        "st4.stage_func_list.2.fuse_func.residual_func_list.5.bn._mean",
    ])
    assert (tmp_path / "cache" / "HRNet_W18_C_pretrained.pdparams").is_file()


def test_a_url_is_downloaded_once_into_the_default_cache(server, blob, tmp_path, monkeypatch):
    monkeypatch.setenv("PPCLS_HRNET_HOME", str(tmp_path / "home"))
    server.files["/w/a.pdparams"] = blob
    first = resolve_weights(server.url("/w/a.pdparams"), get_spec(SMALL))
    second = download_weights(server.url("/w/a.pdparams"), progress=False)
    assert first == second == str(tmp_path / "home" / "weights" / "a.pdparams")
    assert open(first, "rb").read() == blob
    assert len(server.requests) == 1


def test_a_weights_url_without_a_file_name_is_cached_as_pdparams(server, blob, tmp_path):
    server.files["/"] = blob
    path = download_weights(server.url("/"), cache_dir=str(tmp_path), progress=False)
    assert path.endswith(".pdparams")


def test_a_checksum_mismatch_is_a_weights_error_with_the_offline_hint(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    wrong = "0" * 64
    with pytest.raises(WeightsError, match=f"expected {wrong}, got {sha256(blob)}.*run again to retry. "
                                           f"To work offline"):
        download_weights(server.url("/a.pdparams"), cache_dir=str(tmp_path), sha256=wrong, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_malformed_checksum_is_a_weights_error_without_the_offline_hint(tmp_path):
    with pytest.raises(WeightsError, match="malformed sha256 checksum") as info:
        download_weights("http://127.0.0.1:9/a.pdparams#sha256=abc", cache_dir=str(tmp_path))
    assert "offline" not in str(info.value)


def test_http_404_names_url_and_status(server, tmp_path):
    url = server.url("/nope.pdparams")
    with pytest.raises(WeightsError, match=f"{url}: HTTP 404.*local path"):
        resolve_weights(url, get_spec(SMALL), cache_dir=str(tmp_path))


def test_connection_refused_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/a.pdparams"
    with pytest.raises(WeightsError, match=f"{url}: connection refused.*offline"):
        download_weights(url, cache_dir=str(tmp_path), progress=False)


def test_an_interrupted_download_says_how_to_resume_and_work_offline(server, blob, tmp_path):
    server.files["/a.pdparams"] = blob
    server.cut_next_after = 100_000
    with pytest.raises(WeightsError, match=r"interrupted.*after 100000 of 300000 bytes\. Run again to resume "
                                           r"from .*a\.pdparams\.part\. To work offline"):
        download_weights(server.url("/a.pdparams"), cache_dir=str(tmp_path), progress=False)


def test_an_unwritable_cache_names_the_weights_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(WeightsError, match="cannot create the weights cache.*PPCLS_HRNET_HOME"):
        download_weights("http://127.0.0.1:9/a.pdparams", cache_dir=str(blocker / "cache"))
