"""Maintain the course notebooks: set-up cell, student versions, stored outputs.

The solution notebooks ``notebooks/NN_*.ipynb`` are the one source. In them,
each worked solution sits between two marker cells, the gated directives of
sphinx-exercise, which the website renders as a collapsed dropdown::

    :::{solution-start} ex-bias-statistics
    :class: dropdown
    :::

    ...solution cells (code and/or markdown)...

    :::{solution-end}
    :::

The student version ``notebooks/student/NN_*.ipynb`` is derived from it: each
solution block (markers included) becomes one "Your answer here" cell per
kind of cell the block held, and each ``:::{exercise}`` directive becomes a
plain Markdown quote headed "Exercise N: title" (numbered through the course,
as the website numbers them), because Colab and JupyterLab do not render
MyST directives. Nothing else changes, so the student version runs top to
bottom too; the answer checks after each exercise report "not attempted yet"
there.

The first code cell of every notebook is the set-up cell, rendered from
``SETUP_TEMPLATE`` with the repository address of ``_config.yml`` and the
version of ``course_utils/__init__.py``: the one place each is set.

Usage::

    python tools/notebooks.py setup-cell   # rewrite every set-up cell
    python tools/notebooks.py student      # derive the student versions (no outputs)
    python tools/notebooks.py execute [NOTEBOOK ...]   # run and store outputs
    python tools/notebooks.py check        # fail if anything above is stale
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
SOLUTION_GLOB = "[0-9][0-9]_*.ipynb"

START = re.compile(r"^\s*(:::+|```+)\s*\{solution-start\}")
END = re.compile(r"^\s*(:::+|```+)\s*\{solution-end\}")
EXERCISE = re.compile(
    r"^:::\{exercise\}[ \t]*(?P<title>[^\n]*)\n"   # :::{exercise} Title
    r"(?P<options>(?::[\w-]+:[^\n]*\n)*)"            # :label: ...
    r"(?P<body>.*?)^:::[ \t]*$",                      # body, closing fence
    flags=re.MULTILINE | re.DOTALL,
)

CODE_STUB = "# Your answer here\n"
MARKDOWN_STUB = "*Your answer here (double-click this cell to edit it).*"

SETUP_TAG = "course-setup"
SETUP_TEMPLATE = '''\
# Set-up: run this cell first. In Google Colab it installs the course's Python
# package, course_utils {version}; in JupyterLab it uses the installed one.
import importlib, subprocess, sys

sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "CourseNotSetUp"]
try:
    import course_utils
    if course_utils.__file__ is None:  # only a folder left behind by an uninstall
        raise ImportError("course_utils is not installed")
except ImportError:
    sys.modules.pop("course_utils", None)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-color",
                          "course_utils @ git+{url}@v{version}"],
                         capture_output=True, text=True)
    if pip.returncode:
        said = [line.strip() for line in pip.stderr.splitlines() if line.strip()] or ["(nothing)"]
        cause = next((line for line in said if line.lower().startswith(("error", "fatal"))
                      and "subprocess-exited" not in line), said[-1])
        failed = ("course_utils v{version} could not be installed from {url}. "
                  "pip said: " + cause + "\\nIs the release v{version} published there? If "
                  "not, tell your instructor; otherwise check the internet connection. "
                  "Then run this cell again.")

        class CourseNotSetUp:  # later cells that import course_utils say why, too
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "course_utils":
                    raise ImportError(failed)

        sys.meta_path.insert(0, CourseNotSetUp())
        raise RuntimeError(failed) from None
    importlib.invalidate_caches()
    import course_utils'''
# The install runs in the kernel's own Python (as %pip does), but through
# subprocess rather than `!pip` or `%pip`: the cell sees pip's exit status and
# its messages, and stops with one short error naming the repository and the
# release when the install fails. The raised error stops "Run all"; a cell run
# by hand afterwards meets the same message at its `import course_utils`
# instead of a bare ModuleNotFoundError. Running the set-up cell again removes
# that hook first. (%pip would also print "you may need to restart the kernel",
# untrue here, as nothing was imported before.)


# --- Set-up cell -------------------------------------------------------------


def course_version() -> str:
    """The version in course_utils/__init__.py, read without importing it."""
    tree = ast.parse((ROOT / "course_utils" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__version__" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise RuntimeError("course_utils/__init__.py defines no __version__")


def repository_url() -> str:
    """The repository address in _config.yml (also used by the launch buttons)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def setup_source(url: str | None = None, version: str | None = None) -> str:
    """The set-up cell's source: installs ``course_utils`` from ``url`` at tag ``v<version>``.

    By default the repository of ``_config.yml`` and the version of
    ``course_utils/__init__.py``; ``make compat`` passes a ``file://`` URL of a
    local clone instead, so that it installs exactly as Colab does.
    """
    return SETUP_TEMPLATE.format(
        url=url or repository_url(), version=version or course_version()
    )


def _setup_cell_index(nb) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if SETUP_TAG not in cell.metadata.get("tags", []):
                raise ValueError(
                    f"the first code cell must be the set-up cell (tag '{SETUP_TAG}')"
                )
            return i
    raise ValueError("the notebook has no code cell")


def apply_setup_cell(nb) -> bool:
    """Render the set-up cell into ``nb``; return True if it changed."""
    cell = nb.cells[_setup_cell_index(nb)]
    source = setup_source()
    if cell.source == source:
        return False
    cell.source = source
    cell.outputs = []
    cell.execution_count = None
    return True


# --- Student versions --------------------------------------------------------


def _blocks(nb):
    """Yield (start, end) cell indices of each solution block, markers included."""
    start = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        if START.match(cell.source):
            if start is not None:
                raise ValueError(f"cell {i}: solution-start inside an open solution block")
            start = i
        elif END.match(cell.source):
            if start is None:
                raise ValueError(f"cell {i}: solution-end without solution-start")
            yield start, i
            start = None
    if start is not None:
        raise ValueError(f"cell {start}: solution-start is never closed")


def count_exercises(nb) -> int:
    """How many ``:::{exercise}`` directives the notebook's markdown holds."""
    return sum(len(EXERCISE.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


def plain_exercises(source: str, first_number: int) -> tuple[str, int]:
    """Rewrite each exercise directive in ``source`` as a numbered Markdown quote.

    Returns the new source and the number the next exercise gets.
    """
    number = first_number

    def quote(match: re.Match) -> str:
        nonlocal number
        title = match.group("title").strip()
        heading = f"**Exercise {number}: {title}**" if title else f"**Exercise {number}**"
        number += 1
        body = match.group("body").strip("\n").splitlines()
        return "\n".join([f"> {heading}", ">", *(f"> {line}" if line else ">" for line in body)])

    return EXERCISE.sub(quote, source), number


#: A MyST role: {name}`content`, e.g. {term}`dead <dead pixel>` or {eq}`ptc`.
ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<content>[^`]*)`")
#: A role or, so that code is left alone, a code span.
ROLE_OR_CODE = re.compile(ROLE.pattern + r"|``[^`]+``|`[^`\n]+`")
#: A fenced code block that is not a directive (kept as it is).
PLAIN_FENCE = re.compile(r"(^```(?!\{)[^\n]*\n.*?^```[ \t]*$)", flags=re.MULTILINE | re.DOTALL)
#: A MyST directive, fenced by colons or backticks: ``:::{note} Title`` ... ``:::``.
DIRECTIVE = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{(?P<name>[\w:+-]+)\}[ \t]*(?P<argument>[^\n]*)\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$",
    flags=re.MULTILINE | re.DOTALL,
)
#: A MyST target, ``(label)=`` on a line of its own, and a comment line ``% ...``.
TARGET = re.compile(r"^\([\w.:-]+\)=[ \t]*\n?|^%(?:[ \t][^\n]*)?(?:\n|$)", flags=re.MULTILINE)
#: Directives whose body is shown as a quote headed by their name (admonitions).
ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention",
               "danger", "error", "seealso", "admonition"}


def _role_text(match: re.Match) -> str:
    """The words a role shows: ``{term}`dead <dead pixel>``` shows "dead"."""
    name, content = match["name"], match["content"]
    if name == "math":
        return f"${content}$"
    if name in ("eq", "numref") and "<" not in content:
        return f"({content})"  # an equation's or figure's label: the best plain form
    shown = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>", content, flags=re.DOTALL)
    return shown["text"] if shown else content


def _directive_text(match: re.Match) -> str:
    """A directive as plain Markdown: admonitions as a quote, math as $$, others their body."""
    name, argument = match["name"].lower(), match["argument"].strip()
    body = plain_markdown(match["body"].strip("\n"))
    if name == "math":
        return f"$$\n{body}\n$$"
    if name in ("code", "code-block", "code-cell", "sourcecode"):
        return f"```{argument}\n{body}\n```"
    if name in ADMONITIONS:
        heading = argument if name == "admonition" else " ".join(
            filter(None, [name.capitalize() + ":", argument]))
        lines = [f"**{heading}**", "", *body.splitlines()]
        return "\n".join(f"> {line}" if line else ">" for line in lines)
    return body if not argument else f"**{argument}**\n\n{body}"


def plain_markdown(source: str) -> str:
    r"""``source`` with every MyST role, directive and target turned into plain Markdown.

    Colab and JupyterLab (without jupyterlab-myst) show MyST raw: a student
    would read the role's markup instead of "science frame". Roles
    become their words, admonitions quotes, other directives their contents;
    targets and comments go. Exercises are numbered first, by ``plain_exercises``.

    >>> plain_markdown("a {term}`dead <dead pixel>` pixel, see {eq}`ptc`")
    'a dead pixel, see (ptc)'
    >>> plain_markdown(":::{note}\nRead this.\n:::")
    '> **Note:**\n>\n> Read this.'
    """
    # Directives first (their bodies may hold roles), then roles and targets
    # outside code: plain code fences and code spans stay as they are.
    source = DIRECTIVE.sub(_directive_text, source)
    pieces = PLAIN_FENCE.split(source)
    for i in range(0, len(pieces), 2):
        pieces[i] = TARGET.sub("", ROLE_OR_CODE.sub(
            lambda m: _role_text(m) if m["name"] else m[0], pieces[i]))
    return "".join(pieces)


def derive_student(nb, source_name: str, first_exercise: int = 1):
    """Return the student version of solution notebook ``nb`` (outputs cleared).

    ``source_name`` is the solution notebook's file name, recorded in the
    student version's metadata; ``first_exercise`` is the number of its first
    exercise in the course.
    """
    blocks = list(_blocks(nb))  # a notebook without exercises is copied as it is
    cells = []
    position = 0
    for start, end in blocks:
        cells.extend(nb.cells[position:start])
        inner = nb.cells[start + 1 : end]
        label = nb.cells[start].id
        if any(c.cell_type == "markdown" for c in inner):
            cells.append(nbformat.v4.new_markdown_cell(MARKDOWN_STUB, id=f"{label}-md"))
        if any(c.cell_type == "code" for c in inner) or not inner:
            cells.append(nbformat.v4.new_code_cell(CODE_STUB, id=f"{label}-code"))
        position = end + 1
    cells.extend(nb.cells[position:])

    student = copy.deepcopy(nb)
    student.cells = [copy.deepcopy(c) for c in cells]
    number = first_exercise
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source, number = plain_exercises(cell.source, number)
            cell.source = plain_markdown(cell.source)
    student.metadata["course"] = {"version": "student", "derived_from": f"../{source_name}"}
    return student


def student_path(solution: Path) -> Path:
    return STUDENT / solution.name


#: Cell metadata that running a notebook may change, not the derivation.
RUN_METADATA = ("execution", "collapsed", "scrolled")


def _sources(nb):
    """What the derivation determines: cells, ids, cell metadata (tags, alt text) and the marker."""
    cells = [(c.cell_type, c.source, c.get("id"),
              {k: v for k, v in c.metadata.items() if k not in RUN_METADATA}) for c in nb.cells]
    return cells, nb.metadata.get("course")


def solution_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob(SOLUTION_GLOB))


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _write(nb, path: Path) -> None:
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def cmd_setup_cell(_args) -> int:
    for path in solution_notebooks():
        nb = _read(path)
        if apply_setup_cell(nb):
            _write(nb, path)
            print(f"updated the set-up cell of {path.relative_to(ROOT)}")
    return 0


def derived_students():
    """Yield (solution path, derived student notebook), numbering exercises in order."""
    number = 1
    for path in solution_notebooks():
        nb = _read(path)
        try:
            student = derive_student(nb, path.name, number)
        except ValueError as error:
            raise ValueError(f"{path.relative_to(ROOT)}: {error}") from None
        number += count_exercises(nb)
        yield path, student


def cmd_student(_args) -> int:
    for path, student in derived_students():
        target = student_path(path)
        if target.exists() and _sources(_read(target)) == _sources(student):
            continue  # keep the stored outputs of an up-to-date student version
        _write(student, target)
        print(f"derived {target.relative_to(ROOT)} (outputs cleared: run execute)")
    return 0


def execute(path: Path, timeout: int = 600) -> None:
    """Execute ``path`` in a fresh kernel from its own folder and store the outputs."""
    from nbclient import NotebookClient

    nb = _read(path)
    # Progress bars print timings; keep them out of stored outputs. Notebook 2's
    # timing chart shows its recorded timings instead of this machine's.
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("COURSE_REFERENCE_TIMINGS", "1")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.get("output_type") == "error":
                    raise RuntimeError(f"{path.name}: a cell raised {output.get('ename')}")
            cell.outputs = _coalesce_streams(cell.outputs)
    _write(nb, path)
    print(f"executed {path.relative_to(ROOT)}")


def _coalesce_streams(outputs: list) -> list:
    """Join consecutive outputs of one stream (stdout, stderr) into one.

    How a kernel splits what a cell prints into messages depends on timing;
    joined, the stored outputs are the same on every run.
    """
    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
            last["text"] = "".join(last["text"]) + "".join(output["text"])
        else:
            merged.append(output)
    return merged


def cmd_execute(args) -> int:
    paths = [Path(p).resolve() for p in args.notebooks] or [
        *solution_notebooks(),
        *(student_path(p) for p in solution_notebooks()),
    ]
    for path in paths:
        execute(path)
    return 0


def stale_notebooks() -> list[str]:
    """Describe every notebook whose set-up cell or student version is out of date."""
    problems = []
    expected_setup = setup_source()
    solutions = solution_notebooks()
    students = dict(derived_students())
    for path in solutions:
        nb = _read(path)
        rel = path.relative_to(ROOT)
        try:
            setup = nb.cells[_setup_cell_index(nb)].source
        except ValueError as error:
            problems.append(f"{rel}: {error}")
            continue
        if setup != expected_setup:
            problems.append(f"{rel}: set-up cell differs from the template (run `make student`)")
        target = student_path(path)
        if not target.exists():
            problems.append(f"{target.relative_to(ROOT)}: missing (run `make student`)")
            continue
        expected = students[path]
        if _sources(_read(target)) != _sources(expected):
            problems.append(
                f"{target.relative_to(ROOT)}: stale, differs from what {rel} derives "
                "(run `make student`)"
            )
    known = {student_path(p).name for p in solutions}
    for orphan in sorted(STUDENT.glob("*.ipynb")):
        if orphan.name not in known:
            problems.append(f"{orphan.relative_to(ROOT)}: has no solution notebook")
    return problems


def cmd_check(_args) -> int:
    problems = stale_notebooks()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("set-up cells and student notebooks are up to date")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup-cell", help="rewrite the set-up cell of every notebook")
    sub.add_parser("student", help="derive the student notebooks")
    run = sub.add_parser("execute", help="execute notebooks and store their outputs")
    run.add_argument("notebooks", nargs="*", help="default: all, solutions first")
    sub.add_parser("check", help="fail if set-up cells or student notebooks are stale")
    args = parser.parse_args(argv)
    command = {
        "setup-cell": cmd_setup_cell,
        "student": cmd_student,
        "execute": cmd_execute,
        "check": cmd_check,
    }[args.command]
    try:
        return command(args)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
