"""Imports point down only: kernels -> models (envs beside) -> planning -> algorithms -> lab -> cli.

Every module of the ``mdplab`` package is parsed (not imported) and every import
it contains is collected: module level, inside functions, under ``if
TYPE_CHECKING``, and ``importlib.import_module("mdplab...")`` /
``__import__("mdplab...")`` string literals (the constant prefix of an
f-string too). An import of a higher layer fails the test with ``file:line ->
target``. ``mdplab/__init__.py`` is exempt as an importer (it assembles the
package); as an import target, bare ``mdplab`` has the highest layer that its
``__init__`` loads.

Envs sit beside models: they may import kernels, models and envs only; models
may not import envs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mdplab"

LAYERS = {
    "kernels": 0,
    "models": 1,
    "envs": 1,
    "sampling": 1,
    "gym_adapter": 1,
    "planning": 2,
    "hardness": 2,
    "algorithms": 3,
    "lab": 4,
    "cli": 5,
    "__main__": 5,
}
LAYER_NAMES = {0: "kernels", 1: "models", 2: "planning", 3: "algorithms", 4: "lab", 5: "cli"}
ENVS_MAY_IMPORT = {"kernels", "models", "envs"}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(module: str, root: Path) -> bool:
    return (root.parent / Path(*module.split(".")) / "__init__.py").is_file()


def _exists(module: str, root: Path) -> bool:
    base = root.parent / Path(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _string_target(node: ast.expr) -> str | None:
    """The module named by a string literal or by the constant prefix of an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            # Only whole dotted components are certain: "mdplab.lab.{x}" -> "mdplab.lab".
            return head.value.rsplit(".", 1)[0] if "." in head.value else head.value
    return None


def collect_imports(source: str, module: str, is_package: bool = False, root: Path = PACKAGE):
    """``[(line, target module)]`` for every import of an ``mdplab`` module in ``source``.

    ``from mdplab.x import y`` names ``mdplab.x.y`` when that is a module, else
    ``mdplab.x``; relative imports are resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _exists(sub, root) else base))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__"):
                target = _string_target(node.args[0])
                if target is not None:
                    found.append((node.lineno, target))
    return sorted({(line, t) for line, t in found if t == "mdplab" or t.startswith("mdplab.")})


def _family(module: str) -> str:
    """``mdplab.models.latent`` -> ``models``; bare ``mdplab`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int:
    family = _family(module)
    if family == "":
        return top_level_layer()
    if family not in LAYERS:
        raise KeyError(family)
    return LAYERS[family]


def top_level_layer(root: Path = PACKAGE) -> int:
    """The layer of bare ``mdplab``: the highest layer its ``__init__`` imports."""
    source = (root / "__init__.py").read_text()
    targets = [t for _, t in collect_imports(source, "mdplab", True, root) if t != "mdplab"]
    return max((LAYERS[_family(t)] for t in targets), default=0)


def violations(source: str, module: str, filename: str, is_package: bool = False,
               root: Path = PACKAGE) -> list[str]:
    """Every upward (or envs-sideways) import in ``source`` as ``file:line -> target (why)``."""
    family = _family(module)
    if family == "":
        return []  # mdplab/__init__.py assembles the package
    if family not in LAYERS:
        return [f"{filename}: module {module} has no layer; add '{family}' to LAYERS"]
    own = LAYERS[family]
    out = []
    for line, target in collect_imports(source, module, is_package, root):
        tfam = _family(target)
        try:
            tlayer = layer_of(target)
        except KeyError:
            out.append(f"{filename}:{line} -> {target} (unknown layer '{tfam}')")
            continue
        if tlayer > own:
            out.append(
                f"{filename}:{line} -> {target} ({LAYER_NAMES[own]} layer {own} imports "
                f"layer {tlayer})"
            )
        elif family == "envs" and tfam not in ENVS_MAY_IMPORT:
            out.append(f"{filename}:{line} -> {target} (envs may import kernels and models only)")
        elif family == "models" and tfam == "envs":
            out.append(f"{filename}:{line} -> {target} (models may not import envs)")
    return out


def package_modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_imports_point_down_only():
    found = []
    for path in package_modules():
        found += violations(
            path.read_text(),
            module_name(path),
            str(path.relative_to(PACKAGE.parent)),
            is_package=path.name == "__init__.py",
        )
    assert not found, "upward imports:\n" + "\n".join(found)


def test_every_module_has_a_layer():
    families = {_family(module_name(p)) for p in package_modules()} - {""}
    assert families <= set(LAYERS), sorted(families - set(LAYERS))
    assert top_level_layer() == LAYERS["planning"]  # mdplab/__init__ loads envs .. planning


def test_scan_sees_the_real_imports():
    """Not vacuous on the real tree: the planning -> models edges are all found."""
    path = PACKAGE / "planning" / "latent.py"
    targets = {t for _, t in collect_imports(path.read_text(), "mdplab.planning.latent")}
    assert {"mdplab.models.latent", "mdplab.planning.evaluation"} <= targets
    lab = PACKAGE / "lab" / "__init__.py"
    if "import_module(f\"mdplab.lab." in lab.read_text():
        assert "mdplab.lab" in {t for _, t in collect_imports(lab.read_text(), "mdplab.lab", True)}


SYNTHETIC = '''\
import numpy as np
from mdplab.kernels.rng import stream_seeds
from mdplab.models.tabular import TabularMDP


def solve(model):
    from mdplab.planning import evaluate_policy
    return evaluate_policy(model, 0)


def lazily():
    import importlib
    return importlib.import_module("mdplab.algorithms.base")


def relative():
    from ..lab import runner
    return runner


import mdplab
from mdplab import envs
'''


def test_catches_a_synthetic_upward_import():
    found = violations(SYNTHETIC, "mdplab.models.fake", "mdplab/models/fake.py")
    lines = {v.split(" -> ")[0] for v in found}
    assert lines == {
        "mdplab/models/fake.py:7",  # lazy import of planning inside a function
        "mdplab/models/fake.py:13",  # importlib.import_module string literal
        "mdplab/models/fake.py:17",  # relative import of lab
        "mdplab/models/fake.py:21",  # bare mdplab loads planning
        "mdplab/models/fake.py:22",  # models may not import envs
    }, found
    assert any("-> mdplab.planning " in v for v in found)
    assert any("-> mdplab.algorithms.base " in v for v in found)
    assert any("-> mdplab.lab.runner " in v for v in found)
    # The same source is fine one layer up, except for what is above that layer.
    above = violations(SYNTHETIC, "mdplab.algorithms.fake", "mdplab/algorithms/fake.py")
    assert [v.split(" -> ")[1].split()[0] for v in above] == ["mdplab.lab.runner"]


@pytest.mark.parametrize(
    "source, bad",
    [
        ("from mdplab.planning.result import PlanningResult\n", True),
        ("from mdplab.sampling import rollout\n", True),
        ("from mdplab.models.tabular import TabularMDP\n", False),
        ("from mdplab.kernels import sampling\n", False),
        ("x = __import__(f'mdplab.planning.{name}')\n", True),
    ],
)
def test_envs_may_import_models_and_kernels_only(source, bad):
    found = violations(source, "mdplab.envs.fake", "mdplab/envs/fake.py")
    assert bool(found) == bad, found


def test_kernels_import_nothing_above():
    found = violations(
        "from mdplab.models.tabular import TabularMDP\n", "mdplab.kernels.fake", "k.py"
    )
    assert found == ["k.py:1 -> mdplab.models.tabular (kernels layer 0 imports layer 1)"]


def test_models_never_import_planning_even_lazily():
    """The issue's rule, checked directly on the source of every models module."""
    for path in sorted((PACKAGE / "models").glob("*.py")):
        targets = collect_imports(path.read_text(), module_name(path))
        up = [(line, t) for line, t in targets if _family(t) not in ("kernels", "models")]
        assert not up, f"{path.name}: {up}"


def test_model_methods_follow_the_naming_rule():
    """Method ``X`` attached to a model of family ``F`` is ``mdplab.planning.F_X``."""
    import mdplab.models
    from mdplab import planning
    from mdplab.planning._model_methods import ATTACHED

    assert set(ATTACHED) == {
        "LatentMDP", "GlobalLocalSystem", "GroupedMDP", "LowRankMDP", "LinearMixtureMDP"
    }
    for cls_name, names in ATTACHED.items():
        cls = getattr(mdplab.models, cls_name)
        family = cls.__module__.rsplit(".", 1)[1]
        for name in names:
            solver = getattr(planning, f"{family}_{name}")
            assert solver.__module__ == f"mdplab.planning.{family}"
            assert f"mdplab.planning.{family}_{name}" in getattr(cls, name).__doc__
