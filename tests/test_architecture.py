"""The dependency rule ``bot -> core <- brokers``, checked on the source and on a real import.

* ``core/`` never imports ``bot`` or ``brokers``: it knows brokers only through the protocol.
* ``brokers/`` never imports ``bot``, and no ``brokers/<x>/`` imports another ``brokers/<y>/``.
* In ``bot/`` only the composition root (``bot/cli.py``, ``bot/app.py``) imports ``brokers``.

The source check parses files with ``ast`` (nothing is imported), so an import hidden inside a
function or under ``if TYPE_CHECKING:`` counts too. The import check loads every ``core`` module
in a fresh interpreter and looks at ``sys.modules``, which also catches indirect imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "brokers", "bot")
COMPOSITION_ROOTS = frozenset({"bot/cli.py", "bot/app.py"})
FORBIDDEN_IN_CORE = frozenset({"bot", "brokers"})


@dataclass(frozen=True, slots=True)
class Violation:
    file: str  # relative to the root, with "/" separators
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.imported}: {self.rule}"


def source_files(root: Path, layer: str) -> Iterator[Path]:
    """Every .py file of one top-level package, caches excluded."""
    for path in sorted((root / layer).rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return ".".join(part for part in (package, target) if part)


def imported_names(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file.

    ``from a import b`` yields both ``a`` and ``a.b``, since ``b`` may be a submodule. A call of
    ``importlib.import_module("x")`` or ``__import__("x")`` with a literal name counts too.
    """
    module = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _rule_broken(root: Path, relative: str, imported: str) -> str | None:
    """The rule this import breaks, or None."""
    here = relative.split("/")
    there = imported.split(".")
    if here[0] == "core" and there[0] in FORBIDDEN_IN_CORE:
        return "core/ must not import bot or brokers (use the Broker protocol and the registry)"
    if here[0] == "brokers":
        if there[0] == "bot":
            return "brokers/ must not import bot"
        own = here[1] if len(here) > 2 else None  # brokers/<own>/... ; brokers/x.py has none
        other = there[1] if there[0] == "brokers" and len(there) > 1 else None
        if own and other and other != own and (root / "brokers" / other).is_dir():
            return f"brokers/{own}/ must not import another broker package (brokers/{other}/)"
    if here[0] == "bot" and there[0] == "brokers" and relative not in COMPOSITION_ROOTS:
        roots = " and ".join(sorted(COMPOSITION_ROOTS))
        return f"only the composition root ({roots}) may import brokers"
    return None


def check_dependency_rule(root: Path) -> list[Violation]:
    """Every import under core/, brokers/ and bot/ that breaks the dependency rule."""
    found: set[Violation] = set()
    for layer in LAYERS:
        for path in source_files(root, layer):
            relative = path.relative_to(root).as_posix()
            for line, imported in imported_names(root, path):
                rule = _rule_broken(root, relative, imported)
                if rule is not None:
                    found.add(Violation(relative, line, imported, rule))
    return sorted(found, key=lambda v: (v.file, v.line, v.imported))


def modules_loaded_by_importing(root: Path, modules: list[str]) -> list[str]:
    """Import ``modules`` in one fresh interpreter rooted at ``root``; return ``sys.modules``."""
    code = (
        "import importlib, json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root), *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"importing {modules} failed:\n{done.stderr}"
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def leaked_layers(loaded: list[str]) -> list[str]:
    return [name for name in loaded if name.split(".")[0] in FORBIDDEN_IN_CORE]


# --- the real tree -------------------------------------------------------------------------------


def test_the_source_keeps_the_dependency_rule() -> None:
    violations = check_dependency_rule(ROOT)

    assert violations == [], "\n".join(map(str, violations))


def test_importing_every_core_module_loads_neither_bot_nor_brokers() -> None:
    modules = sorted({module_name(ROOT, path) for path in source_files(ROOT, "core")})
    assert "core.errors" in modules

    leaked = leaked_layers(modules_loaded_by_importing(ROOT, modules))

    assert leaked == [], f"importing core loaded {leaked}"


# --- the checker catches what it should (a checker that finds nothing proves nothing) -----------


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "core/__init__.py": "",
    "core/models.py": "from dataclasses import dataclass\n",
    "core/service.py": "from core.models import dataclass\nfrom . import models\n",
    "brokers/__init__.py": "",
    "brokers/paper/__init__.py": "from .broker import PaperBroker\n",
    "brokers/paper/broker.py": "from core import models\nfrom brokers.paper import feed\n",
    "brokers/paper/feed.py": "PaperBroker = object\n",
    "brokers/zerodha/__init__.py": "from core.models import dataclass\n",
    "bot/__init__.py": "",
    "bot/cli.py": "import brokers.paper\nfrom brokers.zerodha import client\n",
    "bot/app.py": "from brokers import paper\n",
    "bot/handlers.py": "from core import service\n",
}


def test_the_checker_finds_nothing_in_a_clean_tree(tmp_path: Path) -> None:
    assert check_dependency_rule(make_tree(tmp_path, CLEAN)) == []


def test_the_checker_reports_every_kind_of_violation(tmp_path: Path) -> None:
    broken = {
        **CLEAN,
        "core/leak.py": "from brokers.paper import broker\n",
        "core/lazy.py": "def f():\n    import bot.cli\n",
        "core/dynamic.py": "import importlib\nimportlib.import_module('brokers.fyers')\n",
        "brokers/paper/cross.py": "from ..zerodha import client\n",
        "brokers/zerodha/ui.py": "import bot\n",
        "brokers/zerodha/reuse.py": "from brokers import paper\n",
        "bot/handlers.py": "from brokers.paper.broker import PaperBroker\n",
    }
    root = make_tree(tmp_path, broken)

    reported = {(v.file, v.imported) for v in check_dependency_rule(root)}

    assert reported >= {
        ("core/leak.py", "brokers.paper"),
        ("core/lazy.py", "bot.cli"),
        ("core/dynamic.py", "brokers.fyers"),
        ("brokers/paper/cross.py", "brokers.zerodha"),
        ("brokers/zerodha/ui.py", "bot"),
        ("brokers/zerodha/reuse.py", "brokers.paper"),
        ("bot/handlers.py", "brokers.paper.broker"),
    }
    clean_files = {"core/service.py", "brokers/paper/broker.py", "bot/cli.py", "bot/app.py"}
    assert not {file for file, _ in reported} & clean_files


def test_the_import_check_sees_an_indirect_import(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "core/innocent.py": "from core import helper\n",
        "core/helper.py": "import brokers.paper\n",
        "brokers/paper/__init__.py": "",
    }
    root = make_tree(tmp_path, files)

    loaded = modules_loaded_by_importing(root, ["core.innocent"])

    assert "brokers.paper" in leaked_layers(loaded)
