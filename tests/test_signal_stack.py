"""OpenVINO engines freed out of order must not leave the thread on an unmapped signal stack."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import faulthandler, gc, signal, subprocess, sys, time
    import numpy as np
    import openvino as ov, openvino.opset13 as ops
    from ppcls_hrnet.runtime.engines import signal_stack
    faulthandler.enable()  # pytest's default: an alternate stack that stays valid
    original = signal_stack.current()

    def compiled():
        p = ops.parameter([1, 3, 8, 8], np.float32)
        core = ov.Core()
        if sys.argv[1] == "kept":
            with signal_stack.kept():
                model = core.compile_model(ov.Model([ops.relu(p)], [p]), "CPU")
        else:
            model = core.compile_model(ov.Model([ops.relu(p)], [p]), "CPU")
        model(np.zeros((1, 3, 8, 8), np.float32))
        return core, model

    first, second = compiled(), compiled()
    del first; gc.collect()   # freed first: not last-in first-out
    del second; gc.collect()
    print("same stack as before:", signal_stack.current() == original, flush=True)
    signal.signal(signal.SIGCHLD, lambda *args: None)  # a Python handler: runs on the alternate stack
    for _ in range(20):
        subprocess.Popen(["true"]).wait()
        time.sleep(0.01)
    print("survived", flush=True)
""")


def run(mode, tmp_path):
    script = tmp_path / "stack.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack is Linux's")
def test_openvino_compile_keeps_the_threads_signal_stack(tmp_path):
    pytest.importorskip("openvino")
    done = run("kept", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "same stack as before: True" in done.stdout and "survived" in done.stdout
    # the counter-check: without it, the same steps kill the process with SIGSEGV
    bare = run("bare", tmp_path)
    assert bare.returncode == -11 and "survived" not in bare.stdout, (bare.returncode, bare.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack is Linux's")
def test_engines_freed_out_of_order_leave_the_stack_as_it_was(tmp_path):
    import gc

    onnx = pytest.importorskip("onnx")
    pytest.importorskip("openvino")
    from onnx import TensorProto, helper

    from ppcls_hrnet.runtime.engines import signal_stack
    from ppcls_hrnet.runtime.engines.openvino import OpenVINOEngine

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(model))
    original = signal_stack.current()
    first = OpenVINOEngine(model, cache_dir=None)
    second = OpenVINOEngine(model, cache_dir=None)
    assert signal_stack.current() == original  # OpenVINO's own stack is not left installed
    del first
    gc.collect()
    del second
    gc.collect()
    assert signal_stack.current() == original
