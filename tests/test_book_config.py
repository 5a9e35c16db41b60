"""Fast checks of the website's configuration, without a browser.

The settings that decide whether the website can be trusted: notebooks run at
every build and a failing cell fails it, solutions are collapsible, launch
links are well-formed (the course we grow from had ``branch: main/``, which
gave ``blob/main//`` links), and the table of contents holds every page. The
last tests build a small book with this course's settings: they read the
launch links that sphinx-book-theme actually writes (to the student version),
and build it twice to check that the two builds are identical.

Every figure a notebook makes needs a description for screen readers, given
in its cell's metadata (``mystnb: image: alt:``); the test here reads the
stored notebooks, so a new notebook's figures are checked without a build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
#: The tag the website's launch links open: v<version of course_utils>.
RELEASE = "v" + re.search(r'__version__ = "([^"]+)"',
                          (ROOT / "course_utils" / "__init__.py").read_text())[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import course_book  # noqa: E402  (the website's Sphinx extension)

NOTEBOOKS = [
    "notebooks/01_bias_frames",
    "notebooks/02_sigma_clipping",
    "notebooks/03_dark_frames",
    "notebooks/04_flat_frames",
    "notebooks/05_science_frame",
    "notebooks/06_photon_transfer",
]


def toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC["parts"]:
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


# --- Execution and rendering ----------------------------------------------------


def test_notebooks_run_at_every_build_and_errors_fail_it():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["allow_errors"] is False
    assert execute.get("raise_on_error") or CONFIG["sphinx"]["config"].get(
        "nb_execution_raise_on_error"
    )
    # Anything on stderr becomes a warning, and -W makes it fatal.
    assert execute["stderr_output"] in ("warn", "error", "severe")
    assert not execute.get("exclude_patterns")


def test_exercises_and_gated_solutions_are_enabled():
    assert "sphinx_exercise" in CONFIG["sphinx"]["extra_extensions"]
    extensions = CONFIG["parse"]["myst_enable_extensions"]
    assert "colon_fence" in extensions and "dollarmath" in extensions


def test_printed_lines_are_merged_whatever_the_kernel_flushed():
    """Two builds split a cell's printed lines at different places unless merged."""
    assert CONFIG["sphinx"]["config"]["nb_merge_streams"] is True


def test_nothing_is_fetched_at_build_time():
    assert CONFIG["launch_buttons"].get("thebe") is False
    assert CONFIG["sphinx"]["config"]["intersphinx_mapping"] == {}


def test_the_makefile_builds_cleanly_and_strictly():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "jupyter-book build . -W -n --keep-going" in makefile
    assert "rm -rf _build" in makefile


@pytest.mark.parametrize("name", ["course_book", "accessible_pages", "reproducible_build"])
def test_the_extensions_examples_hold(name):
    """The docstring examples of the website's extensions in book/_ext/."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0, result


# --- Figures described ------------------------------------------------------------


def _figure_cells(path: Path):
    """(cell id, number of images, description or None) of each code cell that draws."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        outputs = cell.get("outputs", []) if cell["cell_type"] == "code" else []
        images = sum(any(k.startswith("image/") for k in o.get("data", {})) for o in outputs)
        if images:
            options = cell.get("metadata", {}).get("mystnb", {})
            yield cell.get("id"), images, options.get("image", {}).get("alt")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name
)
def test_every_figure_of_every_notebook_is_described(path):
    """The website shows each figure with the alt text of its cell's metadata.

    Without it the image's file path is its alt text, which tells a screen
    reader nothing. A figure's description says what it shows and what to see
    in it, in a sentence or two (see the README).
    """
    figures = list(_figure_cells(path))
    assert figures, f"{path.name} makes no figure"
    for cell_id, images, alt in figures:
        assert images == 1, (
            f"{path.name}, cell {cell_id} draws {images} figures: its description (cell "
            "metadata) would describe them all; draw one figure per cell"
        )
        assert alt and len(alt.split()) >= 6, (
            f"{path.name}, cell {cell_id}: its figure needs a description in the cell's "
            "metadata, mystnb: image: alt: (a sentence or two on what the figure shows)"
        )
        assert not re.search(r"\.(png|jpe?g|svg)\b|_images/", alt), (path.name, cell_id, alt)
    described = [alt for _, _, alt in figures]
    assert len(set(described)) == len(described), f"{path.name}: two figures share a description"


# --- Table of contents ----------------------------------------------------------


def test_toc_lists_every_page_and_the_notebooks_in_order():
    files = toc_files()
    assert [f for f in files if f.startswith("notebooks/")] == NOTEBOOKS
    for name in files:
        matches = list(ROOT.glob(name + ".*"))
        assert matches, f"_toc.yml names {name}, which does not exist"
    pages = {p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book").glob("*.md")}
    assert pages <= set(files), f"pages missing from _toc.yml: {sorted(pages - set(files))}"
    assert not [f for f in files if "student" in f.split("/")[:-1]], "student notebooks are not pages"


def test_glossary_defines_the_course_terms():
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    assert ":::{glossary}" in text
    terms = {line.strip() for line in text.splitlines() if line and not line.startswith((" ", ":"))}
    for term in ["Bias", "Overscan", "Read noise", "Gain", "Dark current", "Sensor glow",
                 "Flat field", "Vignetting", "Cosmic ray", "Sigma clipping", "Master frame",
                 "Science frame", "Dead pixel", "Dither", "Aperture photometry"]:
        assert term in terms, f"the glossary lacks {term!r}"


# --- Repository and launch links --------------------------------------------------


def test_repository_settings_make_clean_links():
    repository = CONFIG["repository"]
    course_book.check_repository(repository["url"], repository["branch"])
    assert repository.get("path_to_book", "") == ""
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


@pytest.mark.parametrize(
    "url, branch",
    [
        ("https://github.com/org/repo", "main/"),
        ("https://github.com/org/repo", "/main"),
        ("https://github.com/org/repo", ""),
        ("https://github.com/org/repo/", "main"),
        ("https://github.com/org/repo.git", "main"),
        ("https://github.com/org", "main"),
        ("http://github.com/org/repo", "main"),
    ],
)
def test_malformed_repository_settings_are_rejected(url, branch):
    with pytest.raises(ValueError):
        course_book.check_repository(url, branch)


def test_link_helpers():
    url = "https://github.com/ccd-calibration/ccd-calibration-course"
    path = "notebooks/student/01_bias_frames.ipynb"
    assert course_book.colab_url(url, "main", path) == (
        "https://colab.research.google.com/github/ccd-calibration/ccd-calibration-course"
        "/blob/main/notebooks/student/01_bias_frames.ipynb"
    )
    assert course_book.binder_url(url, "main", path) == (
        "https://mybinder.org/v2/gh/ccd-calibration/ccd-calibration-course/main"
        "?urlpath=lab/tree/notebooks/student/01_bias_frames.ipynb"
    )
    assert "https://github.com/org/repo.git" in course_book.repository_substitutions(
        "https://github.com/org/repo"
    )["clone_commands"]


def test_binder_installs_the_pinned_environment_and_the_package():
    assert (ROOT / "binder" / "requirements.txt").read_text().count("-r ../requirements.txt") == 1
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install" in post_build.read_text() and "--no-deps" in post_build.read_text()


# --- The launch links sphinx-book-theme writes ------------------------------------


def _mini_book(tmp_path: Path, branch: str) -> Path:
    """A one-notebook book with this course's repository, launch and extension settings."""
    config = {
        "title": "launch links",
        "only_build_toc_files": True,
        "exclude_patterns": CONFIG["exclude_patterns"],
        "execute": {"execute_notebooks": "off"},
        "repository": {**CONFIG["repository"], "branch": branch},
        "launch_buttons": CONFIG["launch_buttons"],
        "html": {"use_repository_button": True, "extra_footer": CONFIG["html"]["extra_footer"]},
        "sphinx": {"local_extensions": {"course_book": str(ROOT / "book" / "_ext")}},
    }
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(
        {"format": "jb-book", "root": "intro",
         "chapters": [{"file": "notebooks/01_x"}, {"file": "page"}]}
    ))
    # A notebook written as MyST Markdown, as book/data.md is: the build writes
    # it out as .ipynb, which must not get random cell ids.
    (tmp_path / "page.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n---\n\n"
        "# A page\n\n```{code-cell} ipython3\n1 + 1\n```\n\nText.\n"
    )
    (tmp_path / "intro.md").write_text("# Intro\n\nHello.\n")
    # The launch links open the release tag of this version (book/_ext/course_book.py).
    (tmp_path / "course_utils").mkdir()
    (tmp_path / "course_utils" / "__init__.py").write_text(f'__version__ = "{RELEASE[1:]}"\n')
    # What `make test` leaves behind must not become a page (and a -W failure).
    (tmp_path / ".pytest_cache").mkdir()
    (tmp_path / ".pytest_cache" / "README.md").write_text("# pytest cache directory\n")
    (tmp_path / "notebooks").mkdir()
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# A notebook\n"]}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "notebooks" / "01_x.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "notebooks" / "student").mkdir()
    (tmp_path / "notebooks" / "student" / "01_x.ipynb").write_text(json.dumps(notebook))
    return tmp_path


def _build(folder: Path) -> subprocess.CompletedProcess:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run(
        [str(jupyter_book), "build", str(folder), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=300,
    )


def test_built_launch_links_open_the_student_version(tmp_path):
    book = _mini_book(tmp_path, CONFIG["repository"]["branch"])
    result = _build(book)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (book / "_build" / "html" / "notebooks" / "01_x.html").read_text(encoding="utf-8")
    org_repo = CONFIG["repository"]["url"].split("github.com/")[1]
    branch = RELEASE  # pinned to the release tag, never a branch
    for path in ("notebooks/student/01_x.ipynb", "notebooks/01_x.ipynb"):
        colab = f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{path}"
        binder = f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{path}"
        assert f'href="{colab}"' in html
        assert f'href="{binder}"' in html
    # The student version comes first, under a name that says so.
    assert html.index("Exercises in Colab") < html.index("With solutions in Colab")
    assert html.index("/student/01_x.ipynb") < html.index(f"blob/{RELEASE}/notebooks/01_x.ipynb")
    assert "blob/main/" not in html and "/gh/" + org_repo + "/main?" not in html
    assert 'href="student/01_x.ipynb"' in html  # the download, next to the page
    assert (book / "_build" / "html" / "notebooks" / "student" / "01_x.ipynb").is_file()
    assert "//notebooks" not in html and f"{branch}//" not in html
    assert "creativecommons.org/licenses/by/4.0/" in html, "the licences are not in the footer"
    intro = (book / "_build" / "html" / "intro.html").read_text(encoding="utf-8")
    assert "colab.research.google.com/github" not in intro, "launch buttons on a page"


def test_a_notebook_without_student_version_fails_the_build(tmp_path):
    book = _mini_book(tmp_path, CONFIG["repository"]["branch"])
    (book / "notebooks" / "student" / "01_x.ipynb").unlink()
    result = _build(book)
    assert result.returncode != 0
    assert "no student version notebooks/student/01_x.ipynb" in result.stdout + result.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_builds_are_identical(tmp_path):
    """The same sources, built twice in two folders, give the same website.

    (The course's notebooks are checked too: tests/test_website.py compares
    the outputs a build publishes with the stored ones.)
    """
    builds = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        book = _mini_book(tmp_path / name, CONFIG["repository"]["branch"])
        result = _build(book)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        builds.append(_files(book / "_build" / "html"))
    first, second = builds
    assert "_sources/page.ipynb" in first, sorted(first)
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"files that differ between two builds: {differ}"
    for files, name in zip(builds, ("first", "second")):
        leaked = [f for f, data in files.items() if str(tmp_path / name).encode() in data]
        assert not leaked, f"files that print the build folder: {leaked}"


def test_a_branch_with_a_slash_fails_the_build(tmp_path):
    result = _build(_mini_book(tmp_path, "main/"))
    assert result.returncode != 0
    assert "repository.branch must be a bare branch name" in result.stdout + result.stderr


# --- One place for where the course lives -------------------------------------------


def test_colab_links_follow_the_configured_colab_address():
    url = "https://github.com/org/repo"
    link = course_book.colab_url(url, "main", "notebooks/x.ipynb", "https://colab.example.org/")
    assert link == "https://colab.example.org/github/org/repo/blob/main/notebooks/x.ipynb"


def test_every_other_mention_of_the_repository_agrees_with_the_config():
    url = CONFIG["repository"]["url"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'Homepage = "{url}"' in pyproject
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["repository-code"] == url
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"git+{url}@v" in readme
    assert set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme)) <= {url}


def test_the_licences_are_in_the_footer():
    footer = CONFIG["html"]["extra_footer"]
    assert "BSD 3-Clause" in footer and "CC BY 4.0" in footer
