"""PaddleClas habit: `python tools/eval.py -c CONFIG -o KEY=VALUE` is `ppcls-hrnet eval ...`."""
from ppcls_hrnet.cli import run_as_tool

run_as_tool("eval")
