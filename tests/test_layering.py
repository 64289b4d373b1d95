"""Imports flow one way: cli and server use engine and querylang; engine never imports server or cli;
querylang imports only the standard library and lark; nothing in engine or querylang uses trio/quart."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "engine": {"server", "cli", "trio", "quart", "quart_trio", "hypercorn", "benchmarks"},
    "querylang": {"engine", "server", "cli", "trio", "quart", "quart_trio", "hypercorn", "benchmarks"},
    "server": {"cli", "benchmarks"},
    "cli": {"benchmarks"},
}
# Leaves of the engine import no other engine module.
ENGINE_LEAVES = {"errors", "options", "tokens", "filenames", "timestamps", "gcpause", "priority"}


def imports(path: Path) -> list[tuple[str, int]]:
    """(top-level module name or relative target, level) of every import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_forbidden_imports(package):
    for path in (ROOT / package).rglob("*.py"):
        for name, level in imports(path):
            if level == 0:
                assert name.split(".")[0] not in FORBIDDEN[package], f"{path.relative_to(ROOT)} imports {name}"


def test_engine_leaves_import_no_engine_module():
    for leaf in ENGINE_LEAVES:
        path = ROOT / "engine" / f"{leaf}.py"
        for name, level in imports(path):
            assert level == 0 and not name.startswith("engine"), f"engine/{leaf}.py imports {'.' * level}{name}"


def test_server_cli_and_benchmarks_use_the_engine_facade_only():
    for package in ("server", "cli", "benchmarks"):
        for path in (ROOT / package).rglob("*.py"):
            for name, level in imports(path):
                if level == 0 and name.startswith("engine."):
                    pytest.fail(f"{path.relative_to(ROOT)} imports {name}; use `from engine import ...`")


def test_no_grab_bag_modules():
    names = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    assert not names & {"utils.py", "helpers.py", "common.py", "misc.py"}


def test_the_ingesting_process_does_not_load_numpy_or_pyarrow():
    # Only builder processes need them (engine/segments/textfield.py); the server and CLI start faster
    # without ~140 ms of imports.
    code = "import sys, engine, server.app, cli.main; print(sorted({'numpy', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
