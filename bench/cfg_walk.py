"""How far a reader walks to follow a stage's `cfg`: the module hops of the config object in the static call graph.

    python bench/cfg_walk.py                       # compare.run
    python bench/cfg_walk.py --start descgen.train.run --tree

Reads descgen/*.py with `ast` (nothing is imported or run). From the start function it follows every call that hands
on the config object: an argument that is the name the config is bound to in that function (`cfg`, or whatever the
callee names the parameter it lands in), or `self.cfg` / `<x>.cfg`, or an object that holds the config (a class with a `cfg` field or `self.cfg`: a Predictor,
compare's Inputs) handed to a parameter annotated with that class. A call is resolved when its callee is a function of
the same module, a name imported from another descgen module, or `module.function` of an imported descgen module;
calls on objects (`predictor.generate(...)`) are not followed, except a call that hands the config on through a
module's table of functions (a module-level `*_TABLE`, as compare's SYSTEM_TABLE): it is followed into every function
the table names (a factory's inner function for an entry that calls one). A name bound to what a call handed the
config returns (`inputs = read_inputs(cfg)`) carries the config on too. Each function is walked once (the first time
it is reached), as a reader who has read it once does.

Prints one JSON line: `hops` (calls from one module into another, counted each time the walk makes one), `climbs`
(hops from a stage module down into a shared one: the reader comes back up to the stage afterwards), `modules` (the
distinct modules visited) and `functions`. `--tree` also prints the walk, indented.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "descgen"
STAGES = {"prepare", "baseline", "train", "compare", "demo"}


class Module:
    def __init__(self, name: str, tree: ast.Module):
        self.name, self.functions, self.imports, self.table, self.tree = name, {}, {}, [], tree
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
                for inner in node.body:  # a factory's function: `generated_texts.texts`
                    if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions[f"{node.name}.{inner.name}"] = inner
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions[f"{node.name}.{item.name}"] = item
        for node in tree.body:  # the functions a *_TABLE names, in order
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_TABLE")
                                                    for t in node.targets):
                factories = {ref.func.id for ref in ast.walk(node.value)
                             if isinstance(ref, ast.Call) and isinstance(ref.func, ast.Name)}
                for ref in ast.walk(node.value):
                    if isinstance(ref, ast.Name) and ref.id in factories:
                        self.table += [f for f in self.functions if f.startswith(ref.id + ".") and f not in self.table]
                    elif isinstance(ref, ast.Name) and ref.id in self.functions and ref.id not in self.table:
                        self.table.append(ref.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:
                    source = node.module or alias.name
                    # `from . import gate as gate_module` names a module; `from .io import read_json` a function
                    self.imports[alias.asname or alias.name] = (source, None) if node.module is None else (source, alias.name)


def load() -> dict[str, Module]:
    return {path.stem: Module(path.stem, ast.parse(path.read_text())) for path in sorted(PACKAGE.glob("*.py"))}


def holder_classes(modules: dict[str, "Module"]) -> dict[str, dict[str, str]]:
    """Classes whose objects hold the config (a `cfg` field or `self.cfg = ...`), each with its annotated fields'
    types: a Predictor, compare's Inputs."""
    classes = {}
    for module in modules.values():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            fields = {n.target.id: ast.unparse(n.annotation) for n in node.body
                      if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
            assigns = {t.attr for n in ast.walk(node) if isinstance(n, ast.Assign) for t in n.targets
                       if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"}
            if "cfg" in fields or "cfg" in assigns:
                classes[node.name] = fields
    return classes


def carries(expression: ast.expr, names: set[str]) -> bool:
    """Whether an argument hands on the config itself: its name, or `<anything>.cfg`."""
    if isinstance(expression, ast.Name):
        return expression.id in names
    return isinstance(expression, ast.Attribute) and expression.attr == "cfg"


def holds(expression: ast.expr, holders: dict[str, str], classes: dict) -> bool:
    """Whether an argument is an object that holds the config: a name bound to one, or a field of one whose type
    holds it (`inputs.predictor`); `inputs.rows` does not."""
    if isinstance(expression, ast.Name):
        return expression.id in holders
    if isinstance(expression, ast.Attribute) and isinstance(expression.value, ast.Name):
        owner = holders.get(expression.value.id)
        return owner in classes and classes[owner].get(expression.attr) in classes
    return False


def annotation(function: ast.FunctionDef, param: str | None) -> str | None:
    for arg in function.args.posonlyargs + function.args.args + function.args.kwonlyargs:
        if arg.arg == param and arg.annotation is not None:
            return ast.unparse(arg.annotation).strip("'\"").split(".")[-1]
    return None


def resolve(modules: dict[str, Module], module: Module, call: ast.Call, owner: str | None) -> tuple[str, str] | None:
    """The (module, function) a call lands in, where the source says: a function of this module, an imported
    function, `module.function`, `Class.method` of an imported or local class, `self.method` / `cls(...)` in a class."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in ("self", "cls") and owner and f"{owner}.{func.attr}" in module.functions:
            return module.name, f"{owner}.{func.attr}"
        if f"{func.value.id}.{func.attr}" in module.functions:
            return module.name, f"{func.value.id}.{func.attr}"
        source, name = module.imports.get(func.value.id, (None, None))
        if source in modules and name and f"{name}.{func.attr}" in modules[source].functions:
            return source, f"{name}.{func.attr}"
    if isinstance(func, ast.Name):
        if func.id in module.functions:
            return module.name, func.id
        source, name = module.imports.get(func.id, (None, None))
        if source in modules and name and name in modules[source].functions:
            return source, name
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        source, name = module.imports.get(func.value.id, (None, None))
        if name is None and source in modules and func.attr in modules[source].functions:
            return source, func.attr
    return None


def parameter_for(function: ast.FunctionDef, position: int | None, keyword: str | None) -> str | None:
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    if keyword is not None:
        return keyword if keyword in names + [a.arg for a in function.args.kwonlyargs] else None
    return names[position] if position is not None and position < len(names) else None


def walk(modules: dict[str, Module], start: tuple[str, str]) -> dict:
    seen, tree, counts = set(), [], {"hops": 0, "climbs": 0}
    visited_modules = {start[0]}
    classes = holder_classes(modules)

    def visit(where: tuple[str, str], bound: str, depth: int, holder: str | None = None) -> None:
        seen.add(where)
        module, function = modules[where[0]], modules[where[0]].functions[where[1]]
        names, holders = (set(), {bound: holder}) if holder else ({bound}, {})
        owner = where[1].split(".")[0] if "." in where[1] else None
        for node in ast.walk(function):  # `inputs = read_inputs(cfg)`: a name bound to an object that holds it
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                made = resolve(modules, module, node.value, owner)
                kind = (ast.unparse(modules[made[0]].functions[made[1]].returns or ast.Constant("")).strip("'\"")
                        if made else ast.unparse(node.value.func).split(".")[0])
                if kind in classes:
                    holders |= {t.id: kind for t in node.targets if isinstance(t, ast.Name)}
        loop_names = {n.target.id for n in ast.walk(function) if isinstance(n, ast.For) and isinstance(n.target, ast.Name)}
        calls = sorted((n for n in ast.walk(function) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
        for node in calls:
            handed = [(i, None, a) for i, a in enumerate(node.args)] + [(None, k.arg, k.value) for k in node.keywords if k.arg]
            hand = [h for h in handed if carries(h[2], names) or holds(h[2], holders, classes)]
            if not hand:
                continue
            target = resolve(modules, module, node, owner)
            through_table = (target is None and isinstance(node.func, ast.Attribute)
                             and isinstance(node.func.value, ast.Name) and node.func.value.id in loop_names)
            for target in [target] if target else [(module.name, f) for f in module.table] if through_table else []:
                callee = modules[target[0]].functions[target[1]]
                for position, keyword, value in hand:
                    param = parameter_for(callee, position, keyword)
                    if param is None:
                        continue
                    if carries(value, names):
                        step(where, target, param, depth, None)
                        break
                    if annotation(callee, param) in classes:  # handed an object that holds the config
                        step(where, target, param, depth, annotation(callee, param))
                        break

    def step(where: tuple[str, str], target: tuple[str, str], param: str, depth: int, holder: str | None) -> None:
        if target[0] != where[0]:
            counts["hops"] += 1
            counts["climbs"] += where[0] in STAGES and target[0] not in STAGES
            visited_modules.add(target[0])
        tree.append(("  " * depth) + f"{target[0]}.{target[1]}" + ("" if target not in seen else " (read)"))
        if target not in seen:
            visit(target, param, depth + 1, holder)

    visit(start, parameter_for(modules[start[0]].functions[start[1]], 0, None) or "cfg", 1)
    return {"start": ".".join(start), **counts, "modules": len(visited_modules), "functions": len(seen), "tree": tree}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="descgen.compare.run", help="descgen.<module>.<function>")
    parser.add_argument("--tree", action="store_true")
    args = parser.parse_args(argv)
    _, module, function = args.start.split(".", 2)
    result = walk(load(), (module, function))
    tree = result.pop("tree")
    print(json.dumps(result))
    if args.tree:
        print(args.start)
        print("\n".join(tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
