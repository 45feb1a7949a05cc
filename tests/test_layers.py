"""No module of avfh_core imports from a layer above its own (read from the source with ast, lazy imports too):
data <- nn <- models <- losses, metrics <- train <- reproduce, viz <- cli. `config`, `deps` and `fsutil` (no avfh_core
imports) are usable by every layer."""

import ast
from pathlib import Path

import avfh_core

ROOT = Path(avfh_core.__file__).parent
LAYER = {"config": 0, "deps": 0, "fsutil": 0, "data": 0, "nn": 1, "models": 2, "losses": 3, "metrics": 3, "train": 4, "reproduce": 5,
         "viz": 5, "cli": 6, "__init__": 6}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in out if m == "avfh_core" or m.startswith("avfh_core.")]


def test_every_package_has_a_layer():
    pkgs = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert pkgs <= set(LAYER), f"give these a layer in tests/test_layers.py: {sorted(pkgs - set(LAYER))}"


def test_no_module_imports_from_a_layer_above_it():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        own = LAYER[package_of(".".join(rel.parts))]
        for line, module in imports(path):
            if LAYER[package_of(module)] > own:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {module}")
    assert not bad, "imports from a layer above:\n" + "\n".join(bad)


def test_landmark_helpers_exist_once():
    """One convention: heatmaps, Procrustes, the mouth range and the landmark check live in data/landmarks.py only."""
    defined = {}
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = [node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef) else [
                t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            for n in names:
                if n in {"landmark_heatmaps", "procrustes", "procrustes_align", "MOUTH", "check_landmarks",
                         "_check_landmarks"}:
                    defined.setdefault(n, []).append(path.relative_to(ROOT).as_posix())
    assert all(where == ["data/landmarks.py"] for where in defined.values()), defined
    assert {"landmark_heatmaps", "procrustes", "MOUTH", "check_landmarks"} <= set(defined)

