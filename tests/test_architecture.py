"""The shape of the code, checked on the source and on a real import.

The dependency rule ``bot -> core <- brokers``:

* ``core/`` never imports ``bot`` or ``brokers``: it knows brokers only through ``core.broker``.
* ``brokers/`` never imports ``bot``, and no ``brokers/<x>/`` imports another ``brokers/<y>/``.
* In ``bot/`` only the composition roots import ``brokers``.

The rooms of ``core/`` (docs/architecture.md has the table):

* R1. ``core/`` holds no module at its top level except ``__init__.py``.
* R2. A room imports only rooms of lower layers (and itself).
* R3. No import cycle between modules of ``core/``, ``bot/`` or ``brokers/``.
* R4. ``brokers/`` reaches core only through ``core.domain``, ``core.broker`` and ``core.runtime``.
* R5. ``bot/``, outside the composition roots, reaches core only through ``core.frontdesk``,
  ``core.domain`` and ``core.config``.
* R6. SQL text, and the ``sqlite3``/``aiosqlite`` modules, appear only under ``core/storage/``
  (and in the paper exchange's own store, which simulates a broker's database, not ours).
* R7. Every non-Python file under ``core/`` ships in an installed build (package-data).
* R8. Every module of ``core/`` and ``bench/`` imports in a fresh interpreter.

The source checks parse files with ``ast`` (nothing is imported), so an import hidden inside a
function or under ``if TYPE_CHECKING:`` counts too. Each rule has a test that shows the checker
catching a violation on a small tree: a checker that finds nothing proves nothing.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "brokers", "bot")
COMPOSITION_ROOTS = frozenset({"bot/cli.py", "bot/app.py", "bot/cli_secrets.py"})
FORBIDDEN_IN_CORE = frozenset({"bot", "brokers"})

ROOMS: dict[str, int] = {
    "domain": 0,
    "runtime": 0,
    "broker": 1,
    "config": 1,
    "storage": 1,
    "alerts": 2,
    "pnl": 2,
    "risk": 2,
    "access": 3,
    "orders": 3,
    "exits": 4,
    "safety": 4,
    "schedule": 4,
    "frontdesk": 5,
}
"""Each room of ``core/`` and its layer: a room may import only rooms of a lower layer."""

ADAPTER_MAY_USE = ("core.domain", "core.broker", "core.runtime")
FRONT_END_MAY_USE = ("core.frontdesk", "core.domain", "core.config")
SQL_HOMES = ("core/storage/", "brokers/paper/store.py")


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


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _rule_broken(root: Path, relative: str, imported: str) -> str | None:
    """The dependency rule (bot -> core <- brokers) this import breaks, or None."""
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
        return f"only the composition roots ({roots}) may import brokers"
    return None


def _room_rule_broken(root: Path, relative: str, imported: str) -> str | None:
    """The rule among R2, R4 and R5 this import breaks, or None."""
    here = relative.split("/")
    there = imported.split(".")
    if there[0] != "core" or len(there) < 2:
        return None
    in_room = here[0] == "core" and len(here) > 2 and here[1] in ROOMS
    if in_room and there[1] in ROOMS and (root / "core" / there[1]).is_dir():
        room, target = here[1], there[1]
        if target != room and ROOMS[target] >= ROOMS[room]:
            return (
                f"R2: core/{room}/ (layer {ROOMS[room]}) must not import core/{target}/ "
                f"(layer {ROOMS[target]}); move the shared piece down or inject a callable"
            )
    if here[0] == "brokers" and not _within(imported, ADAPTER_MAY_USE):
        return f"R4: an adapter reaches core only through {', '.join(ADAPTER_MAY_USE)}"
    if here[0] == "bot" and relative not in COMPOSITION_ROOTS:
        if not _within(imported, FRONT_END_MAY_USE):
            return f"R5: bot/ reaches core only through {', '.join(FRONT_END_MAY_USE)}"
    return None


def _violations(root: Path, rule_of: object) -> list[Violation]:
    found: set[Violation] = set()
    for layer in LAYERS:
        if not (root / layer).is_dir():
            continue
        for path in source_files(root, layer):
            relative = path.relative_to(root).as_posix()
            for line, imported in imported_names(root, path):
                if rule_of is _rule_broken:
                    rule = _rule_broken(root, relative, imported)
                else:
                    rule = _room_rule_broken(root, relative, imported)
                if rule is not None:
                    found.add(Violation(relative, line, imported, rule))
    return sorted(found, key=lambda v: (v.file, v.line, v.imported))


def check_dependency_rule(root: Path) -> list[Violation]:
    """Every import under core/, brokers/ and bot/ that breaks the dependency rule."""
    return _violations(root, _rule_broken)


def check_room_rules(root: Path) -> list[Violation]:
    """Every import that breaks R2 (layers), R4 (adapters) or R5 (front-ends)."""
    return _violations(root, _room_rule_broken)


def top_level_modules(root: Path) -> list[str]:
    """R1: the modules directly under core/ besides ``__init__.py``, and unknown rooms."""
    found = [p.stem for p in (root / "core").glob("*.py") if p.name != "__init__.py"]
    found += [
        p.name
        for p in (root / "core").iterdir()
        if p.is_dir() and p.name not in ROOMS and p.name != "__pycache__"
    ]
    return sorted(found)


# --- R3: import cycles ---------------------------------------------------------------------------


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of core/, bot/ and brokers/ it imports (longest existing prefix)."""
    modules = {
        module_name(root, path): path
        for layer in LAYERS
        if (root / layer).is_dir()
        for path in source_files(root, layer)
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, imported in imported_names(root, path):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A module's own parent packages are imported before it, never by it.
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def import_cycles(root: Path) -> set[frozenset[str]]:
    """Every strongly connected set of two or more modules (Tarjan's algorithm, iterative)."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: set[frozenset[str]] = set()
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    cycles.add(frozenset(members))
    return cycles


# --- R6: SQL only in storage ---------------------------------------------------------------------

SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|PRAGMA\s+\w+)",
    re.DOTALL,
)
DB_MODULES = frozenset({"sqlite3", "aiosqlite"})


def sql_outside_storage(root: Path) -> list[str]:
    """R6: ``file:line`` of every SQL string literal or database-module import outside its homes."""
    found: list[str] = []
    for layer in LAYERS:
        if not (root / layer).is_dir():
            continue
        for path in source_files(root, layer):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(SQL_HOMES):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if SQL.search(node.value):
                        found.append(f"{relative}:{node.lineno} SQL text")
            for line, imported in imported_names(root, path):
                if imported.split(".")[0] in DB_MODULES:
                    found.append(f"{relative}:{line} imports {imported}")
    return sorted(set(found))


# --- R7: data files ship -------------------------------------------------------------------------


def data_files_not_shipped(root: Path) -> list[str]:
    """R7: non-Python files under core/ that no ``[tool.setuptools.package-data]`` entry covers."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    package_data: dict[str, list[str]] = (
        pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {})
    )
    missing = []
    for path in sorted((root / "core").rglob("*")):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(root).as_posix()
        covered = False
        for package, patterns in package_data.items():
            base = package.replace(".", "/") + "/"
            if relative.startswith(base):
                inside = relative[len(base) :]
                covered = covered or any(fnmatch.fnmatch(inside, p) for p in patterns)
        if not covered:
            missing.append(relative)
    return missing


# --- R8: a fresh interpreter imports everything ---------------------------------------------------


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
# Ratchets while the rooms are being built: each list only shrinks, and goes when empty.

TOP_LEVEL_LEFT = frozenset(
    "autoexit "
    " confirmations daily_jobs daily_report desk"
    " exit_bookkeeping exit_desk frontdesk monitor "
    " pnl resolve results rule_index safety safety_desk scheduler"
    "".split()
)
KNOWN_CYCLES = frozenset(
    {
        frozenset({"core.autoexit", "core.exit_bookkeeping"}),
    }
)
DB_IMPORTS_LEFT = frozenset({"core/orders/tracker.py", "core/autoexit.py"})


def _ratchet(found: set[str] | frozenset[str], left: frozenset[str], what: str) -> None:
    new = sorted(found - left)
    gone = sorted(left - found)
    assert not new, f"{what} not on the ratchet list: {new}"
    assert not gone, f"{what} gone: cross them off the ratchet list: {gone}"


def test_the_source_keeps_the_dependency_rule() -> None:
    violations = check_dependency_rule(ROOT)

    assert violations == [], "\n".join(map(str, violations))


def test_r1_core_has_no_module_outside_a_room() -> None:
    _ratchet(set(top_level_modules(ROOT)), TOP_LEVEL_LEFT, "modules at the top of core/")


def test_r2_r4_rooms_and_adapters_import_only_what_they_may() -> None:
    violations = [v for v in check_room_rules(ROOT) if v.rule.startswith(("R2", "R4"))]

    assert violations == [], "\n".join(map(str, violations))


def test_r3_there_is_no_import_cycle() -> None:
    cycles = import_cycles(ROOT)

    new = cycles - KNOWN_CYCLES
    assert not new, "\n".join(" <-> ".join(sorted(cycle)) for cycle in new)
    assert KNOWN_CYCLES <= cycles, f"cycles gone: cross them off: {KNOWN_CYCLES - cycles}"


def test_r6_sql_lives_only_in_storage() -> None:
    found = sql_outside_storage(ROOT)
    sql = [entry for entry in found if entry.endswith("SQL text")]
    db_imports = {entry.split(":")[0] for entry in found if not entry.endswith("SQL text")}

    assert sql == []
    _ratchet(db_imports, DB_IMPORTS_LEFT, "database imports outside core/storage/")


def test_r7_every_data_file_under_core_ships_in_an_installed_build() -> None:
    assert data_files_not_shipped(ROOT) == []


def test_r8_every_core_and_bench_module_imports_and_core_loads_neither_bot_nor_brokers() -> None:
    core_modules = sorted({module_name(ROOT, path) for path in source_files(ROOT, "core")})
    bench_modules = sorted({module_name(ROOT, path) for path in source_files(ROOT, "bench")})
    assert "bench.core" in bench_modules

    leaked = leaked_layers(modules_loaded_by_importing(ROOT, core_modules))
    loaded = modules_loaded_by_importing(ROOT, bench_modules)

    assert leaked == [], f"importing core loaded {leaked}"
    assert set(bench_modules) <= set(loaded)


# --- the checkers catch what they should ---------------------------------------------------------


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "core/__init__.py": "",
    "core/domain/__init__.py": "",
    "core/domain/models.py": "from dataclasses import dataclass\n",
    "core/broker/__init__.py": "from core.broker.protocol import Broker\n",
    "core/broker/protocol.py": "from core.domain import models\nBroker = object\n",
    "core/orders/__init__.py": "",
    "core/orders/service.py": "from core.domain.models import dataclass\nfrom . import helper\n",
    "core/orders/helper.py": "from core.broker import Broker\n",
    "core/storage/__init__.py": "",
    "core/storage/db.py": "import sqlite3\nQUERY = 'SELECT id FROM orders'\n",
    "core/frontdesk/__init__.py": "from core.orders import service\n",
    "brokers/__init__.py": "",
    "brokers/paper/__init__.py": "from .broker import PaperBroker\n",
    "brokers/paper/broker.py": "from core.domain import models\nfrom brokers.paper import feed\n",
    "brokers/paper/feed.py": "from core.broker import Broker\nPaperBroker = object\n",
    "brokers/zerodha/__init__.py": "from core.domain.models import dataclass\n",
    "bot/__init__.py": "",
    "bot/cli.py": "import brokers.paper\nfrom brokers.zerodha import client\nimport core.orders\n",
    "bot/app.py": "from brokers import paper\n",
    "bot/handlers.py": "from core.frontdesk import service\nfrom core.domain import models\n",
    "pyproject.toml": '[tool.setuptools.package-data]\n"core.domain" = ["calendars/*.toml"]\n',
    "core/domain/calendars/exchanges.toml": "",
}


def test_the_checkers_find_nothing_in_a_clean_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path, CLEAN)

    assert check_dependency_rule(root) == []
    assert check_room_rules(root) == []
    assert top_level_modules(root) == []
    assert import_cycles(root) == set()
    assert sql_outside_storage(root) == []
    assert data_files_not_shipped(root) == []


def test_the_dependency_checker_reports_every_kind_of_violation(tmp_path: Path) -> None:
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
    clean_files = {"core/orders/service.py", "brokers/paper/broker.py", "bot/cli.py", "bot/app.py"}
    assert not {file for file, _ in reported} & clean_files


def test_r1_the_checker_finds_a_module_outside_the_rooms(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {**CLEAN, "core/loose.py": "", "core/attic/__init__.py": ""})

    assert top_level_modules(root) == ["attic", "loose"]


def test_r2_the_checker_finds_an_upward_or_sideways_import(tmp_path: Path) -> None:
    broken = {
        **CLEAN,
        "core/domain/up.py": "def f():\n    from core.orders import service\n",
        "core/config/__init__.py": "",
        "core/storage/side.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.config import x\n"
        ),
    }
    root = make_tree(tmp_path, broken)

    reported = {(v.file, v.imported, v.rule[:2]) for v in check_room_rules(root)}

    assert ("core/domain/up.py", "core.orders", "R2") in reported
    assert ("core/storage/side.py", "core.config.x", "R2") in reported
    assert {file for file, _, _ in reported} == {"core/domain/up.py", "core/storage/side.py"}


def test_r3_the_checker_finds_a_cycle_hidden_behind_type_checking(tmp_path: Path) -> None:
    broken = {
        **CLEAN,
        "core/orders/a.py": "from core.orders import b\n",
        "core/orders/b.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.orders.a import A\n"
        ),
        "bot/x.py": "from bot import y\n",
        "bot/y.py": "def f():\n    import bot.x\n",
    }
    root = make_tree(tmp_path, broken)

    assert import_cycles(root) == {
        frozenset({"core.orders.a", "core.orders.b"}),
        frozenset({"bot.x", "bot.y"}),
    }


def test_r4_the_checker_finds_an_adapter_reaching_past_the_port(tmp_path: Path) -> None:
    broken = {**CLEAN, "brokers/zerodha/sly.py": "from core.orders.service import place\n"}
    root = make_tree(tmp_path, broken)

    reported = [(v.file, v.rule[:2]) for v in check_room_rules(root)]

    assert reported == [("brokers/zerodha/sly.py", "R4"), ("brokers/zerodha/sly.py", "R4")]


def test_r5_the_checker_finds_a_front_end_reaching_past_the_front_desk(tmp_path: Path) -> None:
    broken = {**CLEAN, "bot/render.py": "from core.storage import db\nimport core.orders\n"}
    root = make_tree(tmp_path, broken)

    reported = {(v.file, v.imported, v.rule[:2]) for v in check_room_rules(root)}

    assert reported == {
        ("bot/render.py", "core.storage", "R5"),
        ("bot/render.py", "core.storage.db", "R5"),
        ("bot/render.py", "core.orders", "R5"),
    }


def test_r6_the_checker_finds_sql_and_database_imports_outside_storage(tmp_path: Path) -> None:
    broken = {
        **CLEAN,
        "core/orders/raw.py": "Q = '''\n  UPDATE orders SET status = ?'''\n",
        "core/orders/conn.py": "import aiosqlite\n",
        "bot/words.py": "TEXT = 'Select an account from the list'\n",
    }
    root = make_tree(tmp_path, broken)

    assert sql_outside_storage(root) == [
        "core/orders/conn.py:1 imports aiosqlite",
        "core/orders/raw.py:1 SQL text",
    ]


def test_r7_the_checker_finds_a_data_file_an_installed_build_would_miss(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {**CLEAN, "core/domain/holidays.csv": "", "core/x/y.toml": ""})

    assert data_files_not_shipped(root) == ["core/domain/holidays.csv", "core/x/y.toml"]


def test_r8_the_import_check_sees_an_indirect_import(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "core/orders/innocent.py": "from core.orders import helper2\n",
        "core/orders/helper2.py": "import brokers.paper\n",
        "brokers/paper/__init__.py": "",
    }
    root = make_tree(tmp_path, files)

    loaded = modules_loaded_by_importing(root, ["core.orders.innocent"])

    assert "brokers.paper" in leaked_layers(loaded)
