"""Run every student notebook in throwaway environments, as students would.

Three environments (``make compat``; ``make compat COMPAT=colab`` for one):

``colab``
    Google Colab's current runtime, from ``tools/colab_versions.txt`` (the one
    file that says which versions, where they come from and when they were
    last updated): the scientific packages and Colab's kernel side (IPython
    7.34, ipykernel 6.17, ipywidgets 7.7, pip 24.1). course_utils is
    installed by the notebooks' own set-up cell, exactly as in Colab.
``oldest``
    The oldest versions ``pyproject.toml`` declares (``numpy>=1.26`` gives
    ``numpy==1.26.0``, the ``fast`` extra's numba too) on the oldest Python
    it allows. course_utils is installed with ``pip install`` from the
    served repository, as on a student's own computer.
``newest``
    The newest releases of the same packages, unpinned, on the newest Python
    found; installed like ``oldest``.

The repository is served as GitHub serves it: a bare clone of the last commit
(HEAD, without this checkout's tags), over git's smart HTTP protocol (``git
http-backend``) on 127.0.0.1. Its tag ``v<version>`` is made by the release
workflow's own tagging step, ``tools/release.py tag``. A second bare clone,
never tagged, stands for a fork where the release was not published: in the
Colab environment, a notebook whose set-up cell points there must stop at that
cell with its clear error, and no later cell may run.

Each environment is a fresh virtual environment with an empty dataset cache
and work folder. The notebooks run in order (a later one may read what an
earlier one wrote), each top to bottom in a fresh kernel, and fail on any
error or stderr output other than a progress bar (``tools/compat_notebook.py``).
The run also fails if installing course_utils changed the version of any
package that was installed before. In the Colab environment, course_utils is
then uninstalled (``pip uninstall`` leaves numba's cache files behind), the
missing-release case runs, and the first notebook runs again: its set-up cell
must install course_utils anew.

Uncommitted changes are not tested. Environments and the executed notebooks
stay in ``.compat/`` for inspection; pip's cache makes later runs faster.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _notebook_tool():
    """tools/notebooks.py (the set-up cell's template), loaded by its path."""
    spec = importlib.util.spec_from_file_location("course_notebooks_tool", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebook_tool = _notebook_tool()
COLAB_FILE = ROOT / "tools" / "colab_versions.txt"
RUNNER = ROOT / "tools" / "compat_notebook.py"
RELEASE_TOOL = ROOT / "tools" / "release.py"
OUT = ROOT / ".compat"
#: What running notebooks needs in every environment (Colab has them too).
KERNEL = ["ipykernel", "nbclient", "nbformat"]
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")


@dataclass
class Environment:
    """A throwaway environment: its Python, its packages, how course_utils arrives."""

    name: str
    python: str
    requirements: list[str]
    #: "setup-cell" (Colab: the set-up cell installs it) or "pip" (pip install the clone).
    install: str
    notes: list[str] = field(default_factory=list)
    #: Installed first, on their own (Colab's pip and setuptools).
    bootstrap: list[str] = field(default_factory=list)


def colab_environment(path: Path = COLAB_FILE) -> Environment:
    """Colab's runtime as ``tools/colab_versions.txt`` describes it."""
    text = path.read_text(encoding="utf-8")
    python = re.search(r"^#\s*python:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    updated = re.search(r"^#\s*Last updated:\s*(\S+)", text, flags=re.MULTILINE)
    if python is None or updated is None:
        raise ValueError(f"{path.name} must say '# python: X.Y' and '# Last updated: DATE'")
    requirements = [line.strip() for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    first = [r for r in requirements if Requirement(r).name.lower() in ("pip", "setuptools")]
    return Environment("colab", python[1], [r for r in requirements if r not in first],
                       "setup-cell", [f"Colab's versions as of {updated[1]}"], first)


def _declared() -> tuple[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for r in project["optional-dependencies"]["fast"]]
    return project["requires-python"], requirements


def oldest_environment() -> Environment:
    """The lower bound of every dependency ``pyproject.toml`` declares, pinned."""
    requires_python, requirements = _declared()
    pins = []
    for requirement in requirements:
        lower = [s.version for s in requirement.specifier if s.operator == ">="]
        if len(lower) != 1:
            raise ValueError(f"pyproject.toml: {requirement} needs one '>=' lower bound")
        pins.append(f"{requirement.name}=={lower[0]}")
    python = re.fullmatch(r">=\s*(\d+\.\d+)", requires_python)
    if python is None:
        raise ValueError(f"pyproject.toml: requires-python {requires_python!r} is not '>=X.Y'")
    return Environment("oldest", python[1], pins, "pip")


def newest_environment() -> Environment:
    """The newest releases of every dependency, on the newest Python found."""
    _, requirements = _declared()
    newest = next((v for v in reversed(PYTHONS) if find_python(v)), PYTHONS[-1])
    return Environment("newest", newest, [r.name for r in requirements], "pip")


ENVIRONMENTS = {"colab": colab_environment, "oldest": oldest_environment,
                "newest": newest_environment}


def find_python(version: str) -> str | None:
    """A ``pythonX.Y`` executable: on PATH, else in pyenv's versions."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    return candidates[-1] if candidates else None


def _run(command: list, log: Path, **kwargs) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(map(str, command)) + "\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode:
        raise RuntimeError(f"`{' '.join(map(str, command))}` failed; see {log}")


class _GitHandler(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol, as GitHub serves it: each request runs ``git http-backend``."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._backend()

    def do_POST(self):  # noqa: N802
        self._backend()

    def log_message(self, *args):  # quiet: the log would only repeat every request
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            chunks = []
            while size := int(self.rfile.readline().strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self):
        path, _, query = self.path.partition("?")
        body = self._body()
        environ = {
            "PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.server.git_root),
            "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(path), "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=environ,
                             capture_output=True)
        separator = b"\r\n\r\n" if b"\r\n\r\n" in out.stdout else b"\n\n"
        head, _, payload = out.stdout.partition(separator)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if out.returncode and not head:
            status, payload = 500, out.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve_repositories(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the bare repositories in ``folder`` over git's smart HTTP on 127.0.0.1.

    Returns the server (``shutdown()`` it when done) and its base address;
    ``<base>/<name>.git`` is the repository ``folder/<name>.git``.
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GitHandler)
    server.git_root = folder
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def make_served(folder: Path) -> tuple[Path, Path, str]:
    """Bare clones of HEAD in ``folder``: ``course.git``, tagged by the release
    workflow's tagging step, and ``untagged.git``, a copy without the release.

    This checkout's own tags are not copied: the tag must come from the
    tagging step. Returns both paths and the version.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    served = {}
    for name in ("course", "untagged"):
        bare = folder / f"{name}.git"
        subprocess.run(["git", "clone", "--quiet", "--bare", "--no-local", "--no-tags",
                        str(ROOT), str(bare)], check=True)
        # As GitHub: partial clones (pip's --filter=blob:none) are served.
        subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowFilter", "true"],
                       check=True)
        served[name] = bare
    tagged = subprocess.run([sys.executable, str(RELEASE_TOOL), "tag", "--repo",
                             str(served["course"])], capture_output=True, text=True)
    if tagged.returncode:
        raise RuntimeError(f"tools/release.py tag failed: {tagged.stderr.strip()}")
    print("compat:", tagged.stdout.strip())
    return served["course"], served["untagged"], notebook_tool.course_version()


def _packages(python: Path) -> dict[str, str]:
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    # Names normalized as pip does: course_utils and course-utils are one package.
    return {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(listed)}


def changed_packages(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Packages installed before whose version changed (or that disappeared).

    >>> changed_packages({"numpy": "2.1.3"}, {"numpy": "2.3.0", "pooch": "1.8.2"})
    ['numpy 2.1.3 -> 2.3.0']
    """
    return [f"{name} {version} -> {after.get(name, 'removed')}"
            for name, version in sorted(before.items()) if after.get(name) != version]


@dataclass
class Served:
    """The repository as students reach it: served over HTTP, and a clone to read it."""

    clone: Path       # a working clone of the served repository (its notebooks)
    url: str          # the served repository, tagged v<version> by the tagging step
    untagged_url: str  # a served copy without the tag (a fork where it was not published)
    version: str


def _student_notebooks(clone: Path, run_dir: Path, version: str, url: str) -> list[Path]:
    """Copies of the clone's student notebooks, their set-up cell pointed at ``url``."""
    run_dir.mkdir(parents=True)
    copies = []
    for source in sorted((clone / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        index = notebook_tool._setup_cell_index(nb)
        expected = notebook_tool.setup_source()
        if nb.cells[index].source != expected:
            raise RuntimeError(f"{source.name}: the set-up cell is stale (run `make student`)")
        nb.cells[index].source = notebook_tool.setup_source(url=url, version=version)
        copies.append(run_dir / source.name)
        nbformat.write(nb, copies[-1])
    return copies


def _run_notebook(venv_python: Path, path: Path, environ: dict) -> dict:
    out = subprocess.run([venv_python, RUNNER, path.name], cwd=path.parent, env=environ,
                         capture_output=True, text=True)
    try:
        row = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        row = {"ok": False, "seconds": 0.0, "problems": [out.stderr[-2000:]]}
    row["notebook"] = path.name
    return row


def _uninstall(venv_python: Path) -> int:
    """Uninstall course_utils; return how many files it leaves behind.

    ``pip uninstall`` leaves numba's cache files in ``course_utils/__pycache__``;
    the folder then imports as an empty namespace package.
    """
    site = subprocess.run([venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([venv_python, "-m", "pip", "uninstall", "--quiet", "--yes", "course_utils"],
                   check=True, capture_output=True)
    return sum(1 for p in (Path(site) / "course_utils").glob("**/*") if p.is_file())


def _after_uninstall(venv_python: Path, first: Path, environ: dict, leftovers: int) -> dict:
    """Run the first notebook again after an uninstall: its set-up cell must reinstall."""
    again = first.with_name("after_uninstall_" + first.name)
    shutil.copy(first, again)
    row = _run_notebook(venv_python, again, environ)
    row["notebook"] = first.name.replace(".ipynb", "") + " after uninstall"
    row["leftovers"] = leftovers
    return row


#: The cell after the set-up cell in the missing-release notebook: it must never run.
LATER_CELL = "print('a later cell ran')"


def missing_release_problems(nb, url: str, version: str) -> list[str]:
    """What is wrong with an executed missing-release notebook (empty: as it must be).

    The set-up cell must stop with one RuntimeError naming the repository and
    the release and saying what to do, and the next cell must not have run.
    """
    problems = []
    errors = [o for o in nb.cells[0].get("outputs", []) if o.get("output_type") == "error"]
    if len(errors) != 1 or errors[0].get("ename") != "RuntimeError":
        problems.append(f"the set-up cell did not stop with one RuntimeError: {errors}")
    else:
        message = errors[0].get("evalue", "")
        for expected in (f"course_utils v{version} could not be installed from {url}.",
                         f"Is the release v{version} published there?",
                         "tell your instructor"):
            if expected not in message:
                problems.append(f"the set-up cell's error lacks {expected!r}: {message!r}")
    if nb.cells[1].get("outputs") or nb.cells[1].get("execution_count"):
        problems.append("a cell after the failed set-up cell ran")
    return problems


def _missing_release(venv_python: Path, run_dir: Path, served: Served, environ: dict) -> dict:
    """A notebook whose set-up cell installs from the copy without the tag."""
    path = run_dir / "missing_release.ipynb"
    setup = nbformat.v4.new_code_cell(
        notebook_tool.setup_source(url=served.untagged_url, version=served.version))
    nbformat.write(nbformat.v4.new_notebook(
        cells=[setup, nbformat.v4.new_code_cell(LATER_CELL)]), path)
    row = _run_notebook(venv_python, path, environ)
    problems = missing_release_problems(nbformat.read(path, as_version=4),
                                        served.untagged_url, served.version)
    return {"notebook": "missing release", "ok": not problems, "seconds": row["seconds"],
            "problems": problems}


def run_environment(env: Environment, served: Served) -> dict:
    """Create ``env``, install course_utils as its users would, run every notebook."""
    home = OUT / env.name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    log = home / "log.txt"
    result = {"name": env.name, "python": env.python, "rows": [], "problems": []}
    start = time.perf_counter()
    python = find_python(env.python)
    if python is None:
        result["problems"].append(f"no Python {env.python} found (PATH, pyenv)")
        return result
    _run([python, "-m", "venv", home / "venv"], log)
    venv_python = home / "venv" / "bin" / "python"
    pip = [venv_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if env.bootstrap:
        _run([*pip, *env.bootstrap], log)
    _run([*pip, "--only-binary", ":all:", *env.requirements, *KERNEL], log)
    before = _packages(venv_python)
    result["packages"] = {k: before[k] for k in ("numpy", "astropy", "matplotlib", "numba",
                                                 "ipython", "ipywidgets") if k in before}
    if env.install == "pip":
        _run([*pip, f"course_utils @ git+{served.url}@v{served.version}"], log)
        result["changed"] = changed_packages(before, _packages(venv_python))
    result["setup_seconds"] = round(time.perf_counter() - start, 1)
    environ = {**os.environ, "COURSE_CACHE_DIR": str(home / "cache"),
               "COURSE_WORK_DIR": str(home / "work"), "MPLBACKEND": "Agg",
               # This machine's pip.conf names local indexes that pip warns about;
               # a student's pip (Colab's) reads none.
               "PIP_CONFIG_FILE": os.devnull,
               "PATH": f"{home / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "TQDM_DISABLE", "COURSE_DATA_DIR",
                 "COURSE_REFERENCE_TIMINGS", "JUPYTER_PATH"):
        environ.pop(name, None)
    notebooks = _student_notebooks(served.clone, home / "notebooks", served.version, served.url)
    for path in notebooks:
        result["rows"].append(_run_notebook(venv_python, path, environ))
        if env.install == "setup-cell" and "changed" not in result:
            result["changed"] = changed_packages(before, _packages(venv_python))
    if env.install == "setup-cell" and notebooks:
        leftovers = _uninstall(venv_python)
        result["rows"].append(_missing_release(venv_python, home / "notebooks", served, environ))
        result["rows"].append(_after_uninstall(venv_python, notebooks[0], environ, leftovers))
    installed = _packages(venv_python).get("course-utils")
    if installed != served.version:
        result["problems"].append(f"course_utils {installed} is installed, not {served.version}")
    if result.get("changed"):
        result["problems"].append("installing course_utils changed installed packages: "
                                  + "; ".join(result["changed"]))
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def table(results: list[dict]) -> str:
    """A Markdown table: environment x notebook -> pass or FAIL, with wall times."""
    names = list(dict.fromkeys(row["notebook"] for r in results for row in r["rows"]))
    lines = ["| environment | set-up | " + " | ".join(n.removesuffix(".ipynb") for n in names)
             + " | total |", "|---" * (len(names) + 3) + "|"]
    for r in results:
        rows = {row["notebook"]: row for row in r["rows"]}
        cells = [f"{'pass' if rows[n]['ok'] else 'FAIL'} {rows[n]['seconds']:.0f} s"
                 if n in rows else "-" for n in names]
        versions = ", ".join(f"{k} {v}" for k, v in r.get("packages", {}).items())
        lines.append(f"| {r['name']} (Python {r['python']}; {versions}) "
                     f"| {r.get('setup_seconds', 0):.0f} s | " + " | ".join(cells)
                     + f" | {r.get('seconds', 0):.0f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("environments", nargs="*", metavar="ENVIRONMENT",
                        help=f"any of {', '.join(ENVIRONMENTS)} (default: all)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="environments run at the same time (default 1)")
    parser.add_argument("--python-of", choices=list(ENVIRONMENTS), metavar="ENVIRONMENT",
                        help="print the Python version ENVIRONMENT needs, and stop (for CI)")
    args = parser.parse_args(argv)
    if args.python_of:
        print(ENVIRONMENTS[args.python_of]().python)
        return 0
    if subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                      capture_output=True, text=True).stdout.strip():
        print("compat: note: uncommitted changes are not tested (the served repository is HEAD)")
    unknown = sorted(set(args.environments) - set(ENVIRONMENTS))
    if unknown:
        parser.error(f"unknown environment(s) {unknown}; choose from {list(ENVIRONMENTS)}")
    environments = [ENVIRONMENTS[name]() for name in args.environments or ENVIRONMENTS]
    OUT.mkdir(exist_ok=True)
    course, untagged, version = make_served(OUT / "served")
    server, base = serve_repositories(OUT / "served")
    start = time.perf_counter()
    try:
        url = f"{base}/{course.name}"
        clone = OUT / "clone"
        if clone.exists():
            shutil.rmtree(clone)
        subprocess.run(["git", "clone", "--quiet", "--branch", f"v{version}", url, str(clone)],
                       check=True, capture_output=True)
        served = Served(clone, url, f"{base}/{untagged.name}", version)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda env: run_environment(env, served), environments))
    finally:
        server.shutdown()
    report = table(results)
    failures = [f"{r['name']}: {p}" for r in results for p in r["problems"]]
    failures += [f"{r['name']}/{row['notebook']}: {p}" for r in results for row in r["rows"]
                 for p in row.get("problems", [])]
    report += f"\n\ncompat: {time.perf_counter() - start:.0f} s in all\n"
    (OUT / "report.md").write_text(report + "\n".join(failures) + "\n")
    print(report)
    for failure in failures:
        print("FAILED", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
