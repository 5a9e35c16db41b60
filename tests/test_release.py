"""Releases: one version everywhere, a release command, and a guard before publishing.

Every set-up cell installs course_utils from the tag ``v<version>``; a notebook
that names another version, or a website published for a tag that does not
exist, fails for every student. The release command and the guard are tested
in temporary git repositories: this checkout's own tags are not needed.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import course_utils

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb")
)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"course_{name}_tool", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release_tool = _load("release")


# --- One version everywhere ------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_setup_cell_installs_the_package_version(path):
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    tags = re.findall(r"git\+\S+@v([^\"\s]+)\"", setup.source)
    assert tags == [course_utils.__version__], (
        f"{path.name}: the set-up cell installs v{tags}, course_utils is "
        f"{course_utils.__version__} (run `make notebooks`)"
    )
    assert f"course_utils {course_utils.__version__}" in setup.source


def test_citation_and_changelog_name_the_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == course_utils.__version__
    assert set(citation["license"]) == {"BSD-3-Clause", "CC-BY-4.0"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert release_tool.UNRELEASED in changelog
    assert f"## [{course_utils.__version__}] - " in changelog


def test_the_version_has_one_place():
    assert release_tool.current_version(ROOT) == course_utils.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "course_utils.__version__" }' in pyproject


# --- A temporary repository shaped like the course ----------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "course"
    (repo / "course_utils").mkdir(parents=True)
    (repo / "course_utils" / "__init__.py").write_text('"""Doc."""\n\n__version__ = "0.1.0"\n')
    (repo / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [Unreleased]\n\n- A new notebook on science frames.\n\n"
        "## [0.1.0] - 2026-01-01\n\nFirst release.\n"
    )
    (repo / "CITATION.cff").write_text('cff-version: 1.2.0\nversion: "0.1.0"\n'
                                       'date-released: "2026-01-01"\n')
    git(repo.parent, "init", "--quiet", "-b", "main", str(repo))
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.org")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "initial")
    return repo


# --- The guard of the publishing path -------------------------------------------------


def test_the_guard_fails_without_the_tag(repo):
    with pytest.raises(release_tool.ReleaseError, match=r"the tag v0\.1\.0 does not exist"):
        release_tool.check_tag(repo)


def test_the_guard_passes_with_the_tag(repo):
    git(repo, "tag", "--annotate", "v0.1.0", "-m", "0.1.0")
    assert release_tool.check_tag(repo) == "v0.1.0"


def test_the_guard_fails_when_the_tag_holds_another_version(repo):
    git(repo, "tag", "--annotate", "v0.1.0", "-m", "0.1.0")
    (repo / "course_utils" / "__init__.py").write_text('__version__ = "0.2.0"\n')
    git(repo, "commit", "--quiet", "-am", "bump by hand")
    git(repo, "tag", "v0.2.0", "v0.1.0")  # a tag on the wrong commit
    with pytest.raises(release_tool.ReleaseError, match="holds course_utils 0.1.0, not 0.2.0"):
        release_tool.check_tag(repo)


def test_the_guard_command_exits_nonzero_and_says_why(repo):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "release.py"), "check-tag", "--version", "9.9.9"],
        capture_output=True, text=True, cwd=repo,
    )
    assert result.returncode == 1
    assert "v9.9.9 does not exist" in result.stderr


# --- The release command ------------------------------------------------------------------


def test_release_sets_the_version_runs_the_steps_and_commits_without_a_tag(repo):
    ran = repo.parent / "ran.txt"
    # The steps (make notebooks, make test) see the new version everywhere.
    check = ("import pathlib; t = ''.join(pathlib.Path(p).read_text() for p in "
             "['course_utils/__init__.py', 'CHANGELOG.md', 'CITATION.cff']); "
             "assert t.count('0.2.0') == 3, t; "
             f"open({str(ran)!r}, 'a').write('step\\n')")
    steps = [[sys.executable, "-c", check]] * 2
    tag = release_tool.release("0.2.0", repo, commands=steps, date="2026-12-01")
    assert tag == "v0.2.0"
    assert ran.read_text() == "step\nstep\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%s").strip() == "Release 0.2.0"
    # The tag is the release workflow's job, once the commit reaches main.
    assert git(repo, "tag", "--list") == ""
    assert release_tool.plan_tag(repo).due
    assert release_tool.current_version(repo) == "0.2.0"
    changelog = (repo / "CHANGELOG.md").read_text()
    assert re.search(r"## \[Unreleased\]\n\n## \[0\.2\.0\] - 2026-12-01\n\n- A new notebook", changelog)
    assert "## [0.1.0] - 2026-01-01" in changelog
    citation = yaml.safe_load((repo / "CITATION.cff").read_text())
    assert (citation["version"], citation["date-released"]) == ("0.2.0", "2026-12-01")


def test_release_refuses_a_dirty_tree(repo):
    (repo / "notes.txt").write_text("not committed")
    with pytest.raises(release_tool.ReleaseError, match="uncommitted changes"):
        release_tool.release("0.2.0", repo, commands=[])
    assert release_tool.current_version(repo) == "0.1.0"


@pytest.mark.parametrize("version", ["0.2", "v0.2.0", "0.2.0rc1", "", "0.2.0 "])
def test_release_refuses_an_ill_formed_version(repo, version):
    with pytest.raises(release_tool.ReleaseError, match="VERSION must look like"):
        release_tool.release(version, repo, commands=[])


def test_release_refuses_an_existing_tag(repo):
    git(repo, "tag", "v0.2.0")
    with pytest.raises(release_tool.ReleaseError, match="exists already"):
        release_tool.release("0.2.0", repo, commands=[])


def test_release_refuses_an_empty_changelog_entry(repo):
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - x\n")
    git(repo, "commit", "--quiet", "-am", "empty")
    with pytest.raises(release_tool.ReleaseError, match="lists nothing under"):
        release_tool.release("0.2.0", repo, commands=[])


def test_a_failing_step_stops_the_release_before_any_commit(repo):
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(release_tool.ReleaseError, match="nothing was committed"):
        release_tool.release("0.2.0", repo, commands=[[sys.executable, "-c", "raise SystemExit(3)"]])
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "tag", "--list") == ""


# --- The release workflow's tagging step (tools/release.py tag) ---------------------------


@pytest.fixture
def origin(repo: Path) -> Path:
    """A bare repository standing for GitHub, with ``repo`` as its clone's origin."""
    bare = repo.parent / "origin.git"
    git(repo.parent, "clone", "--quiet", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def bump(repo: Path, version: str) -> None:
    (repo / "course_utils" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    git(repo, "commit", "--quiet", "-am", f"Release {version}")


def test_a_missing_tag_is_created_on_head_and_pushed(repo, origin):
    plan = release_tool.make_tag(repo, remote="origin")
    assert (plan.tag, plan.due) == ("v0.1.0", True)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "cat-file", "-t", "v0.1.0").strip() == "tag"  # annotated
    assert git(origin, "rev-parse", "v0.1.0^{commit}").strip() == head
    assert release_tool.check_tag(repo, exact=True) == "v0.1.0"


def test_a_tag_on_head_is_left_alone(repo, origin):
    release_tool.make_tag(repo, remote="origin")
    before = git(origin, "show-ref", "--tags")
    plan = release_tool.make_tag(repo, remote="origin")
    assert not plan.due and plan.tagged_commit == plan.head
    assert git(origin, "show-ref", "--tags") == before


def test_an_unchanged_version_is_not_released_again(repo, origin):
    release_tool.make_tag(repo, remote="origin")
    tagged = git(repo, "rev-parse", "v0.1.0^{commit}").strip()
    (repo / "notes.md").write_text("a fix without a new version\n")
    git(repo, "add", "notes.md")
    git(repo, "commit", "--quiet", "-m", "later work")
    plan = release_tool.make_tag(repo, remote="origin")
    assert not plan.due and plan.tagged_commit == tagged != plan.head
    assert git(origin, "rev-parse", "v0.1.0^{commit}").strip() == tagged
    assert git(repo, "tag", "--list") == "v0.1.0\n"


def test_the_tag_on_the_remote_counts_even_when_the_clone_lacks_it(repo, origin, tmp_path):
    release_tool.make_tag(repo, remote="origin")
    clone = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", "--no-tags", str(origin), str(clone))
    assert git(clone, "tag", "--list") == ""
    assert not release_tool.plan_tag(clone, remote="origin").due


def test_a_new_version_gets_its_tag_and_the_old_one_stays(repo, origin):
    release_tool.make_tag(repo, remote="origin")
    bump(repo, "0.2.0")
    plan = release_tool.make_tag(repo, remote="origin")
    assert (plan.tag, plan.due) == ("v0.2.0", True)
    assert git(origin, "tag", "--list").split() == ["v0.1.0", "v0.2.0"]


def test_a_tag_holding_another_version_is_an_error(repo):
    git(repo, "tag", "--annotate", "v0.2.0", "-m", "wrong commit")
    bump(repo, "0.2.0")
    with pytest.raises(release_tool.ReleaseError, match="holds course_utils 0.1.0, not 0.2.0"):
        release_tool.make_tag(repo)


def test_tagging_works_in_a_bare_repository(repo, origin):
    plan = release_tool.make_tag(origin)
    assert plan.due and git(origin, "rev-parse", "v0.1.0^{commit}").strip() == plan.head


def test_the_tag_command_gives_the_workflow_its_outputs(repo, origin, tmp_path):
    output = tmp_path / "github_output"
    command = [sys.executable, str(ROOT / "tools" / "release.py"), "tag", "--repo", str(repo),
               "--remote", "origin"]
    env = {"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output), "HOME": str(tmp_path)}
    planned = subprocess.run([*command, "--plan"], capture_output=True, text=True, env=env)
    assert planned.returncode == 0, planned.stderr
    assert "will tag v0.1.0" in planned.stdout and git(repo, "tag", "--list") == ""
    made = subprocess.run(command, capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert "nothing to tag" in again.stdout
    assert output.read_text().split() == ["version=0.1.0", "tag=v0.1.0", "due=true"] * 2 + [
        "version=0.1.0", "tag=v0.1.0", "due=false"]


def test_a_deploy_refuses_a_commit_that_is_not_the_tags(repo):
    git(repo, "tag", "--annotate", "v0.1.0", "-m", "0.1.0")
    (repo / "notes.md").write_text("unreleased page\n")
    git(repo, "add", "notes.md")
    git(repo, "commit", "--quiet", "-m", "unreleased")
    assert release_tool.check_tag(repo) == "v0.1.0"  # the tag exists...
    with pytest.raises(release_tool.ReleaseError, match="is not the tag v0.1.0's"):
        release_tool.check_tag(repo, exact=True)  # ...but this is not its commit


def test_the_release_notes_are_the_changelog_entries_of_the_version(repo):
    assert release_tool.release_notes("0.1.0", repo) == "First release."
    with pytest.raises(release_tool.ReleaseError, match=r"no entries under '## \[0\.3\.0\]'"):
        release_tool.release_notes("0.3.0", repo)
    release_tool.release("0.2.0", repo, commands=[], date="2026-12-01")
    assert release_tool.release_notes("0.2.0", repo) == "- A new notebook on science frames."
