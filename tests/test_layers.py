"""The package's layers import only downward, and nothing imports in a cycle.

Layers, lowest first (a module may import its own layer and any below):
base (errors, files, seeds, provenance, progress, fused kernels, hub, models:
loading a Hugging Face model) -> hardware -> analog -> adapters -> tasks ->
training -> sweep, bank, cost, llm -> workflows ->
studies, demo -> commands, cli. Every ``import`` and ``from`` in the source
counts, the lazy ones inside functions included.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "analora"

LAYERS = [
    {
        "errors",
        "files",
        "seeds",
        "provenance",
        "progress",
        "hub",
        "models",
        "fused",
        "_fused_source",
        "__init__",
    },
    {"hardware"},
    {"analog"},
    {"adapters"},
    {"tasks"},
    {"training"},
    {"sweep", "bank", "cost", "llm"},
    {"workflows"},
    {"studies", "demo"},
    {"commands", "cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "analora":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def test_every_top_level_module_has_a_layer() -> None:
    tops = {
        p.stem if p.is_file() else p.name
        for p in SRC.iterdir()
        if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file())
    }
    assert tops <= set(RANK), f"give these a layer in this test: {sorted(tops - set(RANK))}"


def test_layers_import_only_downward() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        here = _top(_module_name(path))
        if here == "__init__" and path.parent != SRC:
            continue
        for imported in _imports(path):
            there = _top(imported)
            if there is None or there == here or there not in RANK or here not in RANK:
                continue
            if RANK[there] > RANK[here]:
                bad.append(f"{_module_name(path)} imports {imported}")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_nothing_below_the_cli_imports_it() -> None:
    for path in SRC.rglob("*.py"):
        name = _module_name(path)
        if _top(name) in {"cli", "commands", "__main__"}:
            continue
        assert not any(
            m == "analora.cli" or m.startswith("analora.commands") for m in _imports(path)
        ), name


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
