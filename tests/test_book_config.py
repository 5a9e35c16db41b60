"""Fast checks of the website's configuration, without a browser.

The settings that decide whether the website can be trusted: notebooks run at
every build and a failing cell fails it, solutions are collapsible, launch
links are well-formed (the course we grow from had ``branch: main/``, which
gave ``blob/main//`` links), and the table of contents holds every page. The
last test builds a one-notebook book with this course's settings and reads the
launch links that sphinx-book-theme actually writes.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
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


def test_nothing_is_fetched_at_build_time():
    assert CONFIG["launch_buttons"].get("thebe") is False
    assert CONFIG["sphinx"]["config"]["intersphinx_mapping"] == {}


def test_the_makefile_builds_cleanly_and_strictly():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "jupyter-book build . -W -n --keep-going" in makefile
    assert "rm -rf _build" in makefile


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
        {"format": "jb-book", "root": "intro", "chapters": [{"file": "notebooks/01_x"}]}
    ))
    (tmp_path / "intro.md").write_text("# Intro\n\nHello.\n")
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
    return tmp_path


def _build(folder: Path) -> subprocess.CompletedProcess:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run(
        [str(jupyter_book), "build", str(folder), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=300,
    )


def test_built_launch_links_point_at_the_notebook(tmp_path):
    book = _mini_book(tmp_path, CONFIG["repository"]["branch"])
    result = _build(book)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (book / "_build" / "html" / "notebooks" / "01_x.html").read_text(encoding="utf-8")
    org_repo = CONFIG["repository"]["url"].split("github.com/")[1]
    branch = CONFIG["repository"]["branch"]
    colab = (f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/"
             "notebooks/01_x.ipynb")
    binder = f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/notebooks/01_x.ipynb"
    assert f'href="{colab}"' in html
    assert f'href="{binder}"' in html
    assert "//notebooks" not in html and f"{branch}//" not in html
    assert "creativecommons.org/licenses/by/4.0/" in html, "the licences are not in the footer"
    intro = (book / "_build" / "html" / "intro.html").read_text(encoding="utf-8")
    assert "colab.research.google.com/github" not in intro, "launch buttons on a page"


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
