"""PaddleClas habit: `python tools/infer.py -c CONFIG -o KEY=VALUE` is `ppcls-hrnet infer ...`."""
from ppcls_hrnet.cli import run_as_tool

run_as_tool("infer")
