"""PaddleClas habit: `python tools/train.py -c CONFIG -o KEY=VALUE` is `ppcls-hrnet train ...`."""
from ppcls_hrnet.cli import run_as_tool

run_as_tool("train")
