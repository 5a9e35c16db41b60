"""The layout of course_utils.combining: no import cycle, no private name crossing modules."""

from __future__ import annotations

import ast
from pathlib import Path

import course_utils
import course_utils.combining

PACKAGE = Path(course_utils.combining.__file__).parent


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """For each module of the package: (module imported from, names) of its relative imports."""
    found = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        found[path.stem] = [
            (node.module or "", [a.name for a in node.names])
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1
        ]
    return found


def test_no_private_name_is_imported_across_modules():
    private = [(module, source, name) for module, imports in _imports().items()
               for source, names in imports for name in names if name.startswith("_")]
    assert private == []


def test_the_modules_import_each_other_without_a_cycle():
    graph = {module: {source or name for source, names in imports for name in names}
             for module, imports in _imports().items()}
    graph = {m: {t for t in targets if t in graph and t != "__init__"} for m, targets in graph.items()}
    done, stack = set(), []

    def visit(module):
        assert module not in stack, f"import cycle: {' -> '.join(stack + [module])}"
        if module in done:
            return
        stack.append(module)
        for target in graph[module]:
            visit(target)
        stack.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_the_public_names_stay_where_they_were():
    from course_utils import combine, read_stack
    from course_utils.combining import prepare_kernels

    assert course_utils.combining.combine is combine
    assert course_utils.combining.read_stack is read_stack
    assert callable(prepare_kernels)
