"""The CPU latency table of this tree against another checkout of the repository, in one run.

    python benchmarks/latency_vs_checkout.py --checkout ../before --rounds 2 -- --engines 'openvino-*' --batch_sizes 1

Each round runs ``ppcls-hrnet benchmark`` (``benchmarks/latency.py``) once
for the other checkout (its package first on PYTHONPATH) and once for this
one, alternating, with the arguments after ``--``; the table gives per engine
and batch the median over rounds of each side's median ms and their ratio.
A refactoring that leaves the engines alone should show ratios near 1.00.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run_once(checkout: Path, extra, json_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(checkout / "benchmarks" / "latency.py"), *extra, "--json", str(json_path),
               "--no_progress"]
    subprocess.run(command, env=env, cwd=checkout, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return json.loads(json_path.read_text())


def medians(report: dict) -> dict:
    return {(row["model"], row["image_size"], row["batch"], row["engine"]): row["median_ms"]
            for row in report["rows"]}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", required=True, help="the other checkout's folder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write both sides' medians here")
    args = parser.parse_args(own)
    other = Path(args.checkout).resolve()
    work = Path(tempfile.mkdtemp(prefix="ppcls_hrnet_latency_vs_"))
    sides = {"other": [], "this": []}
    for round_no in range(args.rounds):
        for side, checkout in (("other", other), ("this", HERE)):
            report = run_once(checkout, extra, work / f"{side}_{round_no}.json")
            sides[side].append(medians(report))
            print(f"round {round_no + 1}/{args.rounds}: {side} done ({report.get('environment', {}).get('cpu', '')})",
                  flush=True)
    keys = [k for k in sides["this"][0] if all(k in r for s in sides.values() for r in s)]
    print(f"\nthis tree vs {other}, {args.rounds} alternating rounds: `{' '.join(extra)}`\n")
    print("| model | px | batch | engine | other ms | this ms | this / other |")
    print("|---|---:|---:|---|---:|---:|---:|")
    table = []
    for key in keys:
        before = statistics.median(r[key] for r in sides["other"])
        after = statistics.median(r[key] for r in sides["this"])
        table.append({"model": key[0], "image_size": key[1], "batch": key[2], "engine": key[3],
                      "other_ms": before, "this_ms": after})
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"arguments": extra, "rounds": args.rounds, "rows": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
