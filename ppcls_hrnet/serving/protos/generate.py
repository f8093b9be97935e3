"""Regenerate :mod:`.descriptors` from the ``.proto`` files next to this module.

    pip install grpcio-tools
    python -m ppcls_hrnet.serving.protos.generate          # rewrites descriptors.py
    python -m ppcls_hrnet.serving.protos.generate --check  # exit 1 if descriptors.py is stale

protoc (grpcio-tools' bundled one) compiles each file to a ``FileDescriptorProto``
(``--descriptor_set_out``, no source info); descriptors.py holds their bytes.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = ("pipeline_service.proto", "grpc_predict_v2.proto")
OUTPUT = HERE / "descriptors.py"
COMMAND = "python -m ppcls_hrnet.serving.protos.generate"


def compile_protos() -> dict:
    """{file name: serialized FileDescriptorProto}, compiled by grpcio-tools' protoc."""
    from google.protobuf import descriptor_pb2

    compiled = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in PROTOS:
            out = Path(tmp) / (name + ".pb")
            done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={HERE}",
                                   f"--descriptor_set_out={out}", name], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"protoc failed on {name}:\n{done.stderr}")
            descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
            (file_proto,) = descriptor_set.file
            compiled[name] = file_proto.SerializeToString(deterministic=True)
    return compiled


def tools_version() -> str:
    from importlib import metadata

    return metadata.version("grpcio-tools")


def render(compiled: dict, version: str) -> str:
    lines = ['"""Compiled descriptors of the .proto files in this folder. Generated: DO NOT EDIT.',
             "",
             f"Made by `{COMMAND}` with grpcio-tools {version}.",
             '"""',
             "",
             "FILES = {"]
    for name, data in compiled.items():
        lines.append(f"    {name!r}: (")
        for start in range(0, len(data), 24):
            lines.append(f"        {data[start:start + 24]!r}")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with descriptors.py instead of writing it")
    args = parser.parse_args(argv)
    compiled = compile_protos()
    if args.check:
        from . import descriptors

        stale = [name for name in PROTOS if descriptors.FILES.get(name) != compiled[name]]
        if stale:
            print(f"descriptors.py is stale for {stale}: run `{COMMAND}`", file=sys.stderr)
            return 1
        print("descriptors.py matches the .proto files")
        return 0
    OUTPUT.write_text(render(compiled, tools_version()))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
