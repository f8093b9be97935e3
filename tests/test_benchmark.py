"""`ppcls-hrnet benchmark`: the variants table, statistics, interleaving, report format, and one short real run.

No timing is asserted: the pure parts get given numbers (or a fake clock),
and the real run only has to produce a consistent report.
"""
import argparse
import contextlib
import json
import os
import statistics
import tempfile

import pytest

from ppcls_hrnet.cli import benchmark as benchmark_command
from ppcls_hrnet.errors import ConfigError, UnknownModelError
from ppcls_hrnet.evaluation import prepare
from ppcls_hrnet.evaluation.benchmark import run_benchmark
from ppcls_hrnet.evaluation.report import (TABLE_COLUMNS, BenchmarkReport, ModelInfo, Skipped, format_report,
                                           make_row, with_ratios)
from ppcls_hrnet.evaluation.settings import BenchmarkSettings, select_engines
from ppcls_hrnet.evaluation.timing import measure_interleaved, summarize, wait_until_idle
from ppcls_hrnet.runtime.backends import AUTO_ORDER, BACKENDS
from ppcls_hrnet.runtime.options import RuntimeOptions
from ppcls_hrnet.runtime.variants import BY_ACCURACY_NAME, TIMED, VARIANTS, VARIANTS_BY_KEY, auto_variant

# ------------------------------------------------------------- the variants table


def test_every_variant_is_a_backend_and_precision_the_backend_table_runs_on_cpu():
    for variant in VARIANTS:
        if variant.key == "auto":  # the defaults: resolved when the engine is made
            assert variant.runtime_options() == RuntimeOptions(cpu_threads=2)
            continue
        assert variant.backend in BACKENDS, variant.key
        assert variant.precision in BACKENDS[variant.backend].cpu_precisions, variant.key
        variant.runtime_options(cpu_threads=2)  # RuntimeOptions accepts every switch combination
    assert len(VARIANTS_BY_KEY) == len(VARIANTS)  # keys are unique


def test_benchmark_engines_and_accuracy_names_come_from_the_variants_table():
    assert list(TIMED) == ["paddle-fp32-pir", "paddle-fp32-legacy", "paddle-fp32-onednn-off", "paddle-bf16",
                           "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-bf16",
                           "openvino-int8", "lite-fp32-x86", "auto"]
    assert {name: (v.backend, v.precision) for name, v in BY_ACCURACY_NAME.items()} == {
        "paddle": ("paddle", "fp32"), "onnxruntime": ("onnxruntime", "fp32"), "openvino": ("openvino", "fp32"),
        "onnxruntime-int8": ("onnxruntime", "int8"), "openvino-int8": ("openvino", "int8"),
        "paddle-bf16": ("paddle", "bf16"), "openvino-bf16": ("openvino", "bf16")}
    # the accuracy reference reads whichever Paddle graph the export has, with oneDNN
    assert BY_ACCURACY_NAME["paddle"].model_format == "auto" and BY_ACCURACY_NAME["paddle"].enable_mkldnn


def test_the_auto_variant_is_autos_first_choice():
    for precision in ("fp32", "bf16", "int8"):
        variant = auto_variant("cpu", precision)
        assert (variant.backend, variant.precision) == (AUTO_ORDER[("cpu", precision)][0], precision)
        assert variant.key in TIMED
    assert auto_variant("gpu", "fp32") is None  # no variant runs on GPU

# ------------------------------------------------------------- pure parts


def rows_from_medians(medians_ms, model="HRNet_W18_C", size=224, batch=1):
    """One row per engine key whose only timed run is the given median."""
    return [make_row(model, size, batch, TIMED[key], [ms / 1000]) for key, ms in medians_ms.items()]


def by_engine(rows, batch=1):
    return {r.engine: r for r in rows if r.batch == batch}


def test_summarize_gives_median_ms_and_images_per_second():
    assert summarize([0.030, 0.010, 0.020], batch=4) == pytest.approx((20.0, 200.0))
    assert summarize([0.010, 0.040], batch=1) == pytest.approx((25.0, 40.0))  # even count: mean of the middle two


def test_ratios_use_the_baseline_and_reference_of_the_same_batch():
    rows = with_ratios(
        rows_from_medians({"paddle-fp32-onednn-off": 400, "paddle-fp32-pir": 100, "openvino-fp32": 80}, batch=1)
        + rows_from_medians({"paddle-fp32-onednn-off": 900, "paddle-fp32-pir": 300, "openvino-fp32": 600}, batch=4)
        + rows_from_medians({"paddle-fp32-pir": 50}, batch=8))  # no baseline, no reference at batch 8
    one, four, eight = by_engine(rows, 1), by_engine(rows, 4), by_engine(rows, 8)
    assert one["paddle-fp32-pir"].speedup_vs_onednn_off == pytest.approx(4.0)
    assert one["paddle-fp32-pir"].latency_vs_openvino == pytest.approx(1.25)
    assert one["paddle-fp32-onednn-off"].speedup_vs_onednn_off == pytest.approx(1.0)
    assert one["openvino-fp32"].latency_vs_openvino == pytest.approx(1.0)
    assert four["paddle-fp32-pir"].speedup_vs_onednn_off == pytest.approx(3.0)
    assert four["paddle-fp32-pir"].latency_vs_openvino == pytest.approx(0.5)
    assert eight["paddle-fp32-pir"].speedup_vs_onednn_off is None
    assert eight["paddle-fp32-pir"].latency_vs_openvino is None


def test_measure_interleaved_is_round_robin_and_times_with_the_given_clock():
    now = [0.0]
    calls = []
    cost = {"a": 1.0, "b": 2.0, "c": 5.0}  # seconds each "run" advances the fake clock

    def runner(key):
        def run():
            calls.append(key)
            now[0] += cost[key] + 0.001 * len(calls)  # later runs a little slower: order shows in the times
        return run

    settles, rounds = [], []
    seconds = measure_interleaved({k: runner(k) for k in cost}, warmup=2, runs=3, clock=lambda: now[0],
                                  settle=lambda: settles.append(len(calls)), on_round=lambda: rounds.append(1))
    assert calls == ["a", "b", "c"] * 5
    assert settles == list(range(15))  # before every run, never inside one
    assert len(rounds) == 5
    # warm-up rounds dropped; the kept times are calls 7.., 3 apart for each runner
    assert seconds["a"] == pytest.approx([1.007, 1.010, 1.013])
    assert seconds["c"] == pytest.approx([5.009, 5.012, 5.015])


def test_wait_until_idle_returns_at_once_in_an_idle_process():
    # The process's CPU clock barely moves while it sleeps: no spinning threads here.
    wait_until_idle(2.0)  # would take 2 s if it never saw the process idle


def parse_tables(text):
    """Markdown table rows as lists of cells (header and separator rows included)."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]


def test_format_report_on_given_numbers():
    engines = ("paddle-fp32-pir", "paddle-fp32-onednn-off", "openvino-fp32", "openvino-bf16")
    settings = BenchmarkSettings(models=("HRNet_W18_C",), batch_sizes=(1, 4), engines=engines, runs=3, warmup=1)
    rows = with_ratios(rows_from_medians({"paddle-fp32-pir": 50, "paddle-fp32-onednn-off": 200, "openvino-fp32": 40})
                       + rows_from_medians({"paddle-fp32-pir": 160, "paddle-fp32-onednn-off": 640,
                                            "openvino-fp32": 200}, batch=4))
    report = BenchmarkReport(
        settings, "ppcls-hrnet benchmark --models HRNet_W18_C", {
            "cpu": "Test CPU", "logical_cores": "2", "python": "3.11", "paddle": "3.3.1", "onnxruntime": None,
            "openvino": "2026.4", "date": "2026-01-01 00:00"},
        models=[ModelInfo("HRNet_W18_C", 224, 21.3, 4.33)], rows=rows,
        skipped=[Skipped("HRNet_W18_C", 224, "openvino-bf16", "no bf16 here")])
    text = format_report(report)

    assert "`ppcls-hrnet benchmark --models HRNet_W18_C`" in text
    assert "randomly initialised" in text
    assert "HRNet_W18_C, 224x224: 21.30 M params, 4.33 GMACs per image" in text
    header, separator, *body = parse_tables(text)
    assert tuple(header) == TABLE_COLUMNS
    assert len(separator) == len(header)
    assert [(r[0], r[1]) for r in body] == [
        ("1", "paddle fp32 oneDNN (PIR)"), ("1", "paddle fp32 oneDNN off"), ("1", "openvino fp32"),
        ("4", "paddle fp32 oneDNN (PIR)"), ("4", "paddle fp32 oneDNN off"), ("4", "openvino fp32")]
    assert body[0][2:] == ["50.0", "20.0", "4.00x", "1.25", "-"]  # 200/50, 50/40, no RSS measured
    assert body[3][2:] == ["160.0", "25.0", "4.00x", "0.80", "-"]  # batch 4: 4 images / 0.16 s
    assert "- HRNet_W18_C 224px, openvino bf16: no bf16 here" in text
    assert "- `--backend auto` runs `openvino fp32` for CPU fp32." in text
    assert "PASS" not in text and "MISS" not in text  # figures only
    assert "int8" not in text.split("## ")[0]  # no int8 note when no int8 engine was chosen


def test_export_formats_follow_the_engines():
    def formats(*keys):
        return prepare.export_formats([TIMED[k] for k in keys])

    assert formats(*TIMED) == ("pir", "legacy")
    assert formats("paddle-fp32-pir", "onnxruntime-fp32", "openvino-int8") == ("pir",)
    assert formats("openvino-fp32") == ("legacy",)  # OpenVINO reads the legacy graph when there is one
    assert formats("onnxruntime-int8") == ("pir",)  # ONNX is converted from PIR
    assert formats("lite-fp32-x86") == ("legacy",)  # Lite's opt reads only the legacy graph


def test_select_engines_takes_keys_and_globs_in_table_order():
    assert select_engines(["openvino-fp32", "paddle-fp32-pir"]) == ("paddle-fp32-pir", "openvino-fp32")
    assert select_engines(["*-int8"]) == ("onnxruntime-int8", "openvino-int8")
    everything_but_lite = tuple(k for k in TIMED if k != "lite-fp32-x86")
    assert select_engines(["*"]) == everything_but_lite  # Lite needs a helper venv: asked for by name only
    with pytest.raises(ConfigError, match="lite-\\* matches no engine"):
        select_engines(["lite-*"])  # a glob never selects the opt-in lite engine
    assert select_engines(["*", "lite-fp32-x86"]) == tuple(TIMED)
    with pytest.raises(ConfigError, match="paddle-fp32 matches no engine"):
        select_engines(["paddle-fp32"])  # the accuracy reference is not a benchmark engine
    with pytest.raises(ConfigError, match="openvino-fp16.*choose from"):
        select_engines(["openvino-fp16"])


@pytest.mark.parametrize("change, error", [
    ({"image_sizes": (100,)}, ConfigError), ({"batch_sizes": (0,)}, ConfigError), ({"runs": 0}, ConfigError),
    ({"engines": ()}, ConfigError), ({"models": ("HRNet_W19_C",)}, UnknownModelError)])
def test_bad_settings_are_rejected_before_any_work(change, error):
    with pytest.raises(error):
        run_benchmark(BenchmarkSettings(**change), progress=False)


# ------------------------------------------------- one short real run (CLI path)


@contextlib.contextmanager
def captured_fd1():
    """What reaches file descriptor 1 (native prints included), as a list filled on exit."""
    out = []
    with tempfile.TemporaryFile(mode="w+") as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            with contextlib.redirect_stdout(sink):
                yield out
        finally:
            sink.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            out.append(sink.read())


# No OpenVINO fp32/bf16 or Paddle legacy engine: only the PIR graph is exported (seconds saved).
ENGINES = ["paddle-fp32-pir", "paddle-fp32-onednn-off", "paddle-bf16", "onnxruntime-fp32", "onnxruntime-int8"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`ppcls-hrnet benchmark` on HRNet_W18_small_v1 at 32 px, 2 batch sizes, 2 runs.

    bf16 is declared unsupported and quantization "succeeds" without writing a
    file, so both ways a combination gets skipped are exercised quickly.
    """
    json_path = tmp_path_factory.mktemp("bench") / "latency.json"
    parser = argparse.ArgumentParser()
    benchmark_command.add_arguments(parser)
    args = parser.parse_args(["--models", "HRNet_W18_small_v1", "--image_size", "32", "--batch_sizes", "1", "2",
                              "--engines", *ENGINES, "--runs", "2", "--warmup", "1", "--settle_ms", "0",
                              "--json", str(json_path), "--no_progress"])
    real_reason = prepare.unsupported_reason
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prepare, "unsupported_reason",
                   lambda v: "bf16 switched off by the test" if v.precision == "bf16" else real_reason(v))
        mp.setattr(prepare, "quantize_for_speed", lambda *a, **k: None)
        with captured_fd1() as stdout:
            code = benchmark_command.run(args)
    return code, stdout[0], json.loads(json_path.read_text())


def test_run_prints_only_the_report_on_stdout(cli_run):
    code, stdout, _ = cli_run
    assert code == 0
    assert stdout.startswith("# HRNet CPU latency\n")
    assert "[Paddle2ONNX]" not in stdout  # the converter's native prints go to stderr
    assert "Command: `ppcls-hrnet benchmark --models HRNet_W18_small_v1 --image_size 32 --batch_sizes 1 2" in stdout
    assert "synthetic noise images" in stdout and "`ppcls-hrnet quantize`" in stdout


def test_run_measures_every_runnable_engine_at_every_batch(cli_run):
    _, stdout, data = cli_run
    header, _, *body = parse_tables(stdout)
    assert tuple(header) == TABLE_COLUMNS
    measured = ["paddle fp32 oneDNN (PIR)", "paddle fp32 oneDNN off", "onnxruntime fp32"]
    assert [(r[0], r[1]) for r in body] == [(b, label) for b in ("1", "2") for label in measured]
    assert all(len(r["times_ms"]) == 2 and r["median_ms"] > 0 for r in data["rows"])
    assert all(r["rss_growth_mb"] is not None for r in data["rows"])  # Linux: /proc/self/statm
    assert data["models"][0]["params_m"] > 1 and data["models"][0]["gmacs"] > 0


def test_run_reports_skipped_combinations_with_the_reason(cli_run):
    _, stdout, data = cli_run
    skipped = {s["engine"]: s["reason"] for s in data["skipped"]}
    assert skipped["paddle-bf16"] == "bf16 switched off by the test"
    assert "has no int8 model" in skipped["onnxruntime-int8"]  # create_engine's own error
    assert "- HRNet_W18_small_v1 32px, paddle bf16 oneDNN (PIR): bf16 switched off by the test" in stdout
    assert "- HRNet_W18_small_v1 32px, onnxruntime int8:" in stdout


def test_run_ratios_match_the_medians_of_the_recorded_times(cli_run):
    _, _, data = cli_run
    for batch in (1, 2):
        rows = {r["engine"]: r for r in data["rows"] if r["batch"] == batch}
        medians = {k: statistics.median(r["times_ms"]) for k, r in rows.items()}
        for key, r in rows.items():
            assert r["median_ms"] == pytest.approx(medians[key])
            assert r["images_per_s"] == pytest.approx(batch * 1000 / medians[key])
            assert r["speedup_vs_onednn_off"] == pytest.approx(medians["paddle-fp32-onednn-off"] / medians[key])
            assert r["latency_vs_openvino"] is None  # openvino fp32 was not run
    assert data["settings"]["engines"] == ENGINES


def test_list_engines_prints_the_keys(capsys):
    parser = argparse.ArgumentParser()
    benchmark_command.add_arguments(parser)
    assert benchmark_command.run(parser.parse_args(["--list_engines"])) == 0
    keys = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert keys == list(TIMED)
