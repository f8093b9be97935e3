"""The `ppcls-hrnet` console script, run in-process."""
import json

from ppcls_hrnet.cli import main


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
