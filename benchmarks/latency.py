"""CPU latency of HRNet on every engine and precision, interleaved in one run.

    python benchmarks/latency.py                     # HRNet_W18_C, 224 px, batch 1 4 8, all engines
    python benchmarks/latency.py --engines 'openvino-*' --batch_sizes 1 --json latency.json

The same command as `ppcls-hrnet benchmark` (flags: --help); the work lives
in ppcls_hrnet/evaluation/ (benchmark.py runs it). The table it prints is docs/benchmarks.md's.
"""
from ppcls_hrnet.cli import run_as_tool

run_as_tool("benchmark")
