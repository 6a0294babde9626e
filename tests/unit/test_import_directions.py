"""The house's import directions: `cli` above `services` above the library `attain`, `attain.core` pure, no cycles.

The contracts live in pyproject.toml (`[tool.importlinter]`) and `lint-imports` checks them. These tests run it on the
real tree, and on a small made-up tree with the same contracts to show that each contract fails when it is broken.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import attain

ROOT = Path(__file__).parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}


def lint_imports(root: Path, *contract_ids: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under ``root`` (found there first), with the config in root/pyproject.toml."""
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"]
    for contract_id in contract_ids:
        command += ["--contract", contract_id]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_import_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


def test_the_pure_core_contract_names_everything_else_in_the_library() -> None:
    """A new package or module under attain/ must be added to core-is-pure, or the core could import it unseen."""
    siblings = {f"attain.{module.name}" for module in pkgutil.iter_modules(attain.__path__)} - {"attain.core"}
    assert siblings <= set(CONTRACTS["core-is-pure"]["forbidden_modules"])


# -- each contract can fail: a made-up tree with every module the contracts name, then one bad import at a time --


def made_up_tree(root: Path) -> None:
    config = "[tool.importlinter]\n" + f"root_packages = {CONFIG['root_packages']!r}\n".replace("'", '"')
    for contract in CONFIG["contracts"]:
        config += "\n[[tool.importlinter.contracts]]\n" + "".join(
            f"{key} = {value!r}\n".replace("'", '"') for key, value in contract.items())
    (root / "pyproject.toml").write_text(config.replace("True", "true").replace("False", "false"))
    named = {"services.ledger", "services.ledger.db", "services.ledger.lineage", "attain.platform",
             "attain.embedded", "attain.core.money"}
    for contract in CONFIG["contracts"]:
        for key in ("layers", "source_modules", "forbidden_modules", "ancestors"):
            named.update(contract.get(key, []))
    for module in named:
        package = root.joinpath(*module.split("."))
        for level in [package, *package.relative_to(root).parents][:-1]:
            (root / level).mkdir(parents=True, exist_ok=True)
            (root / level / "__init__.py").touch()


BREAKS = {
    "library-imports-a-service": ("house-layers", {"attain/platform/__init__.py": "import services.ledger\n"}),
    "library-imports-the-cli": ("house-layers", {"attain/core/money/__init__.py": "import cli\n"}),
    "service-imports-the-cli": ("house-layers", {"services/ledger/__init__.py": "import cli\n"}),
    "core-imports-the-ledger": ("core-is-pure", {"attain/core/money/__init__.py": "import attain.ledger\n"}),
    "core-imports-platform": ("core-is-pure", {"attain/core/money/__init__.py": "from attain import platform\n"}),
    "platform-embedded-cycle": ("no-cycles", {"attain/platform/__init__.py": "import attain.embedded\n",
                                              "attain/embedded/__init__.py": "import attain.platform\n"}),
    # no depth limit: a cycle between two modules one level further down breaks it too
    "ledger-db-lineage-cycle": ("no-cycles", {"services/ledger/db/__init__.py": "import services.ledger.lineage\n",
                                              "services/ledger/lineage/__init__.py": "import services.ledger.db\n"}),
}


def test_the_made_up_tree_keeps_every_contract(tmp_path: Path) -> None:
    made_up_tree(tmp_path)
    done = lint_imports(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("contract_id", "edits"), BREAKS.values(), ids=BREAKS.keys())
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, contract_id: str, edits: dict[str, str]) -> None:
    made_up_tree(tmp_path)
    for path, text in edits.items():
        (tmp_path / path).write_text(text)
    done = lint_imports(tmp_path, contract_id)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Contracts: 0 kept, 1 broken." in done.stdout, done.stdout + done.stderr
