"""The package's layers (.importlinter): every contract holds, each one can fail, and no import cycle.

A contract that cannot fail proves nothing, so each is broken on purpose in
a copy of the package (one forbidden import added) and ``lint-imports`` must
then exit non-zero naming it.
"""
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / ".importlinter"
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(package_parent: Path):
    """``lint-imports`` on the package found first on PYTHONPATH (``package_parent``)."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([LINT_IMPORTS, "--config", str(CONTRACTS), "--no-cache"], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=600)


def contract_names():
    config = configparser.ConfigParser()
    config.read(CONTRACTS)
    return {section.split(":")[-1]: config[section]["name"] for section in config.sections()
            if section.startswith("importlinter:contract:")}


def test_every_contract_holds():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(contract_names())} kept, 0 broken" in done.stdout


# contract key -> (module to add, a line that breaks the contract)
BREAKS = {
    "layers": ("ppcls_hrnet/runtime/_probe.py", "from ppcls_hrnet.cli import main\n"),
    "runtime-without-paddle": ("ppcls_hrnet/runtime/engines/_probe.py", "import paddle\n"),
    "serving-without-paddle": ("ppcls_hrnet/serving/_probe.py", "from ppcls_hrnet.runtime.paddle import engine\n"),
    "models-data-below-training-and-deploy": ("ppcls_hrnet/data/_probe.py",
                                              "from ppcls_hrnet.runtime import predictor\n"),
}


def test_the_paddle_free_runtime_names_every_runtime_module_but_its_paddle_engine():
    config = configparser.ConfigParser()
    config.read(CONTRACTS)
    sources = set(config["importlinter:contract:runtime-without-paddle"]["source_modules"].split())
    runtime = ROOT / "ppcls_hrnet" / "runtime"
    members = {f"ppcls_hrnet.runtime.{p.stem if p.is_file() else p.name}" for p in runtime.iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert members - sources == {"ppcls_hrnet.runtime.paddle"}
    assert "ppcls_hrnet.preprocess" in sources


def test_every_contract_has_a_breaking_probe():
    assert set(BREAKS) == set(contract_names())


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    parent = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "ppcls_hrnet", parent / "ppcls_hrnet", ignore=shutil.ignore_patterns("__pycache__"))
    return parent


@pytest.mark.parametrize("contract", sorted(BREAKS))
def test_a_forbidden_import_breaks_the_contract(package_copy, contract):
    probe, line = BREAKS[contract]
    path = package_copy / probe
    path.write_text(line)
    try:
        done = lint_imports(package_copy)
    finally:
        path.unlink()
    assert done.returncode != 0, done.stdout
    broken = [name for name in contract_names().values() if f"{name} BROKEN" in " ".join(done.stdout.split())]
    assert broken == [contract_names()[contract]], done.stdout


def import_cycles(graph, package="ppcls_hrnet"):
    """Strongly connected groups of more than one module (Tarjan), over every import, function-level ones
    included."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith(package):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycle_in_the_package():
    graph = grimp.build_graph("ppcls_hrnet", cache_dir=None)
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle(package_copy):
    probe = package_copy / "ppcls_hrnet/base/_probe.py"
    probe.write_text("from ppcls_hrnet.base import process\n")
    process = package_copy / "ppcls_hrnet/base/process.py"
    original = process.read_text()
    process.write_text(original + "\nfrom ppcls_hrnet.base import _probe  # noqa\n")
    code = ("import grimp, sys; sys.path.insert(0, %r); from test_layers import import_cycles; "
            "g = grimp.build_graph('ppcls_hrnet', cache_dir=None); "
            "print(import_cycles(g))" % str(Path(__file__).parent))
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=package_copy, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(package_copy)}, timeout=300)
    finally:
        process.write_text(original)
        probe.unlink()
    assert "ppcls_hrnet.base._probe" in done.stdout and "ppcls_hrnet.base.process" in done.stdout, \
        done.stdout + done.stderr
