"""The package layout: the data flow is the import graph, with no cycles and no lazy imports
that dodge one; the public API is importable from the top."""

import ast
from pathlib import Path

import smclab

SRC = Path(smclab.__file__).parent
#: layers, in data-flow order: a module may import its own layer and the ones before it
LAYERS = (
    "_version",
    "errors",
    "isa",
    "model",
    "codegen",
    "workloads",
    "run",
    "store",
    "suites",
    "report",
    "cli",
    "__main__",
)
#: imports made inside a function on purpose (module -> imported module, why)
DEFERRED = {
    ("smclab.run.worker", "smclab.run.native"): "only the worker process maps and runs code",
    ("smclab.__main__", "smclab.cli"): "a Ctrl-C while the command line loads ends in one line",
    ("smclab.run.worker", "smclab.run.stale"): "only the worker process runs the stale-code loops",
    ("smclab.model.experiment", "smclab.workloads"): "the registry loads the built-in workloads"
    " on first use (each package registers itself; the model never names one)",
}
#: modules outside smclab.workloads that name one workload's package (module -> why)
NAMES_A_WORKLOAD = {
    "smclab.suites.session": "an assembly experiment is the seed's: its user code is checked",
    "smclab.run.worker": "it tells jit-block's failed remap (an exit status) from a crash",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, known: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(module-level smclab imports, smclab imports inside functions) of one file."""
    tree = ast.parse(path.read_text())
    top, nested = set(), set()

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            return [f"{node.module}.{a.name}" for a in node.names]
        return []

    def visit(node: ast.AST, inside: bool) -> None:
        names = [resolve(t, known) for t in targets(node)]
        (nested if inside else top).update(n for n in names if n and n.startswith("smclab"))
        inside = inside or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return top, nested


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, known)[0] - {m} for m, p in known.items()}


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in g.get(m, ()):
            if n == "smclab" or n.startswith("smclab.") and n not in g:
                continue
            if state.get(n) == 1 and n != "smclab":
                raise AssertionError(" -> ".join([*stack, m, n]))
            if n not in state:
                visit(n, [*stack, m])
        state[m] = 2

    for m in sorted(g):
        if m not in state and m != "smclab":
            visit(m, [])


def test_layers_only_import_earlier_layers():
    def layer(m: str) -> int:
        return LAYERS.index(m.split(".")[1]) if m.count(".") else -1

    bad = [
        f"{m} imports {n}"
        for m, deps in graph().items()
        if m != "smclab" and not m.startswith("smclab.cli")
        for n in deps
        if n != "smclab" and layer(n) > layer(m)
    ]
    assert bad == []


def test_workloads_are_reached_through_the_registry():
    """A workload is one package: nothing outside smclab.workloads imports one (the registry
    in smclab.model.experiment reaches them), so adding a workload touches no other module;
    inside, a package imports another only to share its parts (jit-emit: jit-block's)."""
    named = {
        (m, n.split(".")[2])
        for m, deps in graph().items()
        for n in deps
        if n.count(".") >= 2 and n.startswith("smclab.workloads.") and n.split(".")[2] in PACKAGES
    }
    outside = {m for m, _ in named if not m.startswith("smclab.workloads")}
    assert outside == set(NAMES_A_WORKLOAD)
    across = {
        (m.split(".")[2], w)
        for m, w in named
        if m.startswith("smclab.workloads.") and m.count(".") >= 2 and m.split(".")[2] != w
    }
    assert across <= {("jit_emit", "jit_block")}


PACKAGES = {p.name for p in (SRC / "workloads").iterdir() if (p / "__init__.py").exists()}


def test_no_lazy_imports_outside_the_deferred_list():
    known = modules()
    lazy = {
        (m, n)
        for m, p in known.items()
        if not m.startswith("smclab.cli")
        for n in imports(p, known)[1]
    }
    assert lazy == set(DEFERRED)


def test_the_public_api_is_importable_from_the_top():
    assert set(smclab.__all__) >= {
        "Experiment",
        "Session",
        "Grid",
        "Result",
        "StoredResult",
        "open_store",
        "compare_rounds",
        "run_seed",
        "run_diagnose",
        "run_advise",
    }
    for name in smclab.__all__:
        assert getattr(smclab, name) is not None


def test_the_worker_loads_no_suite_store_or_report():
    """The public API loads on first use: the worker process (which imports smclab.run.worker)
    does not pay for every suite, store backend and renderer at each start."""
    import subprocess
    import sys

    code = (
        "import sys, smclab.run.worker; "
        "print(sorted(m for m in sys.modules if m.startswith(('smclab.suites', 'smclab.store', "
        "'smclab.report', 'smclab.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_interruption_model():
    """One ``class Interrupted`` (smclab.run.interrupt), and only it installs signal handlers
    in the command line's process (the worker, a process of its own, ignores SIGINT)."""
    classes, handlers = [], set()
    for m, p in modules().items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and node.name == "Interrupted":
                classes.append(m)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "signal"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "signal"
            ):
                handlers.add(m)
    assert classes == ["smclab.run.interrupt"]
    assert handlers == {"smclab.run.interrupt", "smclab.run.worker"}
