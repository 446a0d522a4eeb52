"""The import layers of the code base (README "Code layout"): a module imports only from its own layer or
lower ones, so the core never reaches up to evaluation or the CLI, orchestration never calls the CLI,
and the CLI stays a thin layer over library functions. Checked statically over every module's imports
(including those inside functions)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "models", "eval", "beam_jobs")

# Layers, lowest first. A module belongs to the first entry that names it or a package above it.
LAYERS = (
    ("core", ("models", "pipeline.errors", "pipeline.skeleton", "pipeline.camera", "pipeline.config",
              "pipeline.schema", "pipeline.fsutil", "pipeline.experiment", "pipeline.icvl", "pipeline.nyu_format", "pipeline.msra_format",
              "pipeline.hands2017_format", "pipeline.datasets", "pipeline.geometry", "pipeline.augment",
              "pipeline.precision", "pipeline.input", "pipeline.runfiles", "pipeline.rundir", "pipeline.score", "pipeline.convert",
              "pipeline.locator",
              "pipeline.dask_cluster", "pipeline.synth", "pipeline.joint_error")),
    ("jobs", ("beam_jobs",)),
    ("stages", ("pipeline.build_data", "pipeline.build_synth", "pipeline.train", "pipeline.training",
                "pipeline.inference", "pipeline.fit_refine", "pipeline.finish_run", "pipeline.centre_refiner", "pipeline.predict",
                "pipeline.predictor", "pipeline.frame_sources", "pipeline.overlay", "pipeline.export",
                "pipeline.preview_data")),
    ("eval", ("eval",)),
    ("orchestration", ("pipeline.reproduce", "pipeline.tune")),
    ("cli", ("pipeline.cli", "pipeline.commands", "pipeline.__main__")),
)
ROOT_PACKAGES = {"pipeline", "models", "eval", "beam_jobs"}  # their empty __init__ modules


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """Index into LAYERS of ``module`` (None for a bare package name such as 'pipeline')."""
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def modules() -> dict[str, Path]:
    """{module name: file} of every module of the packages."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Our modules that ``path`` imports (``from pipeline import x`` counts as ``pipeline.x`` when x is a
    module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            base = ROOT.joinpath(*node.module.split("."))
            out |= {f"{node.module}.{a.name}" for a in node.names  # a submodule: `from pipeline import x`
                    if (base / f"{a.name}.py").is_file() or (base / a.name).is_dir()}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def violations(files: dict[str, Path]) -> list[str]:
    """One line per import of a higher layer, and per module in no layer."""
    found = []
    for mod, path in sorted(files.items()):
        own = layer_of(mod)
        if own is None:
            if mod not in ROOT_PACKAGES:
                found.append(f"{mod}: in no layer (add it to LAYERS)")
            continue
        for dep in sorted(imported_modules(path)):
            theirs = layer_of(dep)
            if theirs is not None and theirs > own:
                found.append(f"{mod} ({LAYERS[own][0]}) imports {dep} ({LAYERS[theirs][0]})")
    return found


def test_every_module_imports_only_its_own_layer_or_lower():
    assert violations(modules()) == []


def test_the_check_reports_an_upward_import_even_inside_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from pipeline import camera\nfrom pipeline import commands\n\ndef f():\n    from pipeline.cli import main\n"
                     "    import eval.metrics\n")
    assert violations({"pipeline.geometry": probe}) == [
        "pipeline.geometry (core) imports eval.metrics (eval)",
        "pipeline.geometry (core) imports pipeline.cli (cli)",
        "pipeline.geometry (core) imports pipeline.commands (cli)"]
    assert violations({"pipeline.commands.probe": probe}) == []
    assert violations({"pipeline.newthing": probe}) == ["pipeline.newthing: in no layer (add it to LAYERS)"]


@pytest.mark.parametrize("module, layer", [("pipeline.geometry", "core"), ("beam_jobs.data_job", "jobs"),
                                           ("pipeline.predict", "stages"), ("eval.evaluate", "eval"),
                                           ("pipeline.tune", "orchestration"), ("pipeline.commands.eval", "cli")])
def test_layer_names(module, layer):
    assert LAYERS[layer_of(module)][0] == layer


# ---- imports at the module top -------------------------------------------------------------------
# A module's dependencies are read at its top: no import inside a function, but (1) the imports of our
# own modules that open ``run()`` of a command module (pipeline/commands/*.py: the CLI starts without
# TensorFlow, Keras or Beam, so each command imports the stage modules it calls there; see
# pipeline/commands/__init__.py) and (2) one carrying a ``# deferred: <reason>`` comment on its line (an
# import cycle that cannot be broken, an import that must follow a monkeypatch, ...).
DEFERRED = "# deferred:"
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _opening_imports(fn: ast.FunctionDef) -> list[ast.stmt]:
    """The imports of our own modules (the stage modules) that open ``fn``'s body, after its docstring."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    out = []
    for stmt in body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            break
        names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module or ""]
        if all(n.split(".")[0] in PACKAGES for n in names):  # the standard library etc. go at the top
            out.append(stmt)
    return out


def function_level_imports(path: Path, module: str) -> list[str]:
    """'file:line: statement' of every import inside a function of ``path`` (the module ``module``) but
    the allowed ones (see above)."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines), str(path))
    allowed = set()
    if module.startswith("pipeline.commands."):
        allowed = {id(s) for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name == "run"
                   for s in _opening_imports(fn)}
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if (in_function and isinstance(child, (ast.Import, ast.ImportFrom)) and id(child) not in allowed
                    and not any(DEFERRED in line for line in lines[child.lineno - 1:child.end_lineno])):
                found.append(f"{where}:{child.lineno}: {lines[child.lineno - 1].strip()}")
            visit(child, in_function or isinstance(child, FUNCTIONS))

    visit(tree, False)
    return found


def test_modules_import_at_their_top():
    found = [hit for mod, path in sorted(modules().items()) for hit in function_level_imports(path, mod)]
    if found:
        pytest.fail("imports inside functions (move them to the module top, or see the comment above "
                    "function_level_imports):\n" + "\n".join(found), pytrace=False)


def test_test_modules_and_doc_scripts_import_at_their_top():
    files = sorted([*(ROOT / "tests").glob("*.py"), *(ROOT / "docs").rglob("*.py")])
    found = [hit for path in files for hit in function_level_imports(path, module_name(path))]
    if found:
        pytest.fail("imports inside functions (move them to the module top; one that must come later, e.g. "
                    "after a monkeypatch, carries '# deferred: <reason>'):\n" + "\n".join(found), pytrace=False)


def test_the_top_import_check_allows_only_a_commands_opening_imports_and_deferred_ones(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        'import json\n\n\ndef run(args):\n    """Doc."""\n    from pipeline import predict\n    import os\n'
        '    import eval.plots\n\n    x = 1\n    import sys\n\n\ndef helper():\n    import math\n    from pipeline import (\n'
        '        camera)  # deferred: a reason\n    import re  # deferred: another\n\n\n'
        'def outer():\n    def inner():\n        import csv\n    return lambda: inner\n')
    command = function_level_imports(probe, "pipeline.commands.probe")
    assert [h.split(": ", 1)[1] for h in command] == ["import os", "import sys", "import math", "import csv"]
    assert command[1].startswith(f"{probe}:11: ")
    library = function_level_imports(probe, "pipeline.predict")
    assert [h.split(": ", 1)[1] for h in library] == [
        "from pipeline import predict", "import os", "import eval.plots", "import sys", "import math", "import csv"]
