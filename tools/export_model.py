"""PaddleClas habit: `python tools/export_model.py -c CONFIG -o KEY=VALUE` is `ppcls-hrnet export ...`."""
from ppcls_hrnet.cli import run_as_tool

run_as_tool("export")
