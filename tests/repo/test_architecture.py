"""The structure the architecture promises, checked over the source (no imports executed).

- Only the ConnectWise package (and the sandbox, which *is* a ConnectWise simulator) imports
  `reconciler.connectwise` or builds ConnectWise JSON; everything else speaks `reconciler.target`.
  The one place that names the implementation is `runtime.TARGETS`, loaded by module path, and
  `runtime` itself knows nothing of ConnectWise (no CW_* variable, no `config.connectwise`): the
  settings, keys, trust check and sandbox wiring are the package's own `connect`.
- Every command (`reconciler/cmds/*`) imports only the orchestration layer (`reconciler.run`),
  the views (`reconciler.render`), `reconciler.cmds.common`, click and the standard library.
- No import cycles between the modules of `reconciler/`.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from tests.support import REPO_ROOT

PACKAGE = REPO_ROOT / "reconciler"
CONNECTWISE_SIDE = ("connectwise", "sandbox")
# Field names only ConnectWise's JSON has; a module that writes one is building its JSON.
CONNECTWISE_WORDS = re.compile(
    r"""["'](billCustomer|effectiveDate|cancelledDate|groupIdentifier|managementSummaryReports|serialNumber|"""
    r"""totalManagedMachines|agreementStatus|cancelledFlag|finance/agreements|company/companies)["'/]"""
)


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    typing_only = {id(n) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
                   for n in ast.walk(block)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # annotations only: no import at run time
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _side(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in CONNECTWISE_SIDE else None


def test_only_the_connectwise_package_knows_connectwise():
    mods = modules()
    offenders = []
    for name, path in sorted(mods.items()):
        if _side(name):
            continue
        for target in imports_of(name, path, set(mods)):
            if target.startswith("reconciler.connectwise"):
                offenders.append(f"{name} imports {target}")
        for match in CONNECTWISE_WORDS.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{name} writes ConnectWise JSON {match.group(1)!r}")
    assert offenders == []


def test_no_import_cycles():
    mods = modules()
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    # A package's __init__ re-exporting its submodules is not a cycle of concepts.
    graph = {n: {t for t in ts if not n.startswith(t + ".") and not t.startswith(n + ".")} for n, ts in graph.items()}
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


# What a command module may import: the orchestration layer, the views, the commands' shared
# helpers, click and the standard library. Anything else is a command doing a run's work.
COMMAND_MAY_IMPORT = ("reconciler.run", "reconciler.render", "reconciler.cmds.common", "click")


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too),
    as absolute dotted names: the module itself for `from M import f`, `M.x` when x is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return out


def command_import_offenders(mods: dict[str, Path]) -> list[str]:
    offenders = []
    for name, path in sorted(mods.items()):
        if not name.startswith("reconciler.cmds.") or name == "reconciler.cmds.common":
            continue
        for target in sorted(imported_names(name, path, set(mods))):
            top = target.split(".")[0]
            allowed = any(target == a or target.startswith(a + ".") for a in COMMAND_MAY_IMPORT)
            if not allowed and (top == "__future__" or top in sys.stdlib_module_names) and top != "reconciler":
                continue
            if not allowed:
                offenders.append(f"{name} imports {target}")
    return offenders


def test_commands_only_parse_options_and_show_results():
    """`reconciler/cmds/*` parse options, call `reconciler.run` and print `reconciler.render`:
    the shape issue 23 asks of every command (the plan path's)."""
    assert command_import_offenders(modules()) == []


def test_the_command_check_sees_a_command_doing_a_runs_work(tmp_path):
    cmds = tmp_path / "reconciler" / "cmds"
    cmds.mkdir(parents=True)
    (cmds / "thick.py").write_text(
        "import json\nimport click\nimport requests\nfrom reconciler.config import load_config\n"
        "from reconciler.run.drift import run_drift\nfrom reconciler.cmds import common\n"
        "def f():\n    from reconciler.ledger import read_ledger\n", encoding="utf-8")
    mods = {"reconciler.cmds.thick": cmds / "thick.py", "reconciler.cmds.common": cmds / "common.py"}
    assert command_import_offenders(mods) == [
        "reconciler.cmds.thick imports reconciler.config",
        "reconciler.cmds.thick imports reconciler.ledger",
        "reconciler.cmds.thick imports requests",
    ]
def _code_strings(tree: ast.AST) -> list[str]:
    """The string constants of a module's code, its docstrings left out."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_runtime_names_no_connectwise_setting_or_variable():
    text = (PACKAGE / "runtime.py").read_text(encoding="utf-8")
    assert re.findall(r"\bCW_[A-Z_]*", text) == []
    assert "config.connectwise" not in text
    tree = ast.parse(text)
    assert [v for v in _code_strings(tree) if "connectwise" in v.casefold()] == ["connectwise", "reconciler.connectwise"]


def test_only_the_wiring_list_names_the_psa_package():
    """What a second PSA touches outside its own package, measured: the modules whose code (not
    their docs) names the PSA package, by import or by module path. `runtime` is the wiring list
    (`TARGETS`); `cli` names the ConnectWise client's retry logger, to show retries at a
    terminal (a second PSA works without it: its retries are just not echoed)."""
    naming = set()
    for name, path in modules().items():
        if _side(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {t for t in imports_of(name, path, set(modules())) if t.startswith("reconciler.connectwise")}
        if imported or any(v.startswith("reconciler.connectwise") for v in _code_strings(tree)):
            naming.add(name)
    assert naming == {"reconciler.runtime", "reconciler.cli"}
