"""Release the course, and refuse to publish a release that does not exist.

A release is a commit tagged ``v<version>``: every notebook's set-up cell
installs ``course_utils`` from that tag (see ``tools/notebooks.py``), and the
website's Colab, Binder and download links open the notebooks at that tag, so
a website or a notebook that names a missing tag fails for every student.

Usage::

    python tools/release.py release 0.2.0   # what `make release VERSION=0.2.0` runs
    python tools/release.py tag [--plan] [--remote origin] [--repo PATH]
    python tools/release.py check-tag [--exact]   # fail unless v<current version> exists

``release`` prepares the release commit on a clean tree: it refuses an
ill-formed version, a tag that exists already and a CHANGELOG.md with nothing
under ``[Unreleased]``; sets the version in its one place
(``course_utils/__init__.py``), moves the changelog's ``[Unreleased]``
entries under the new version, sets the version and date in CITATION.cff,
runs ``make notebooks`` (set-up cells, student versions, stored outputs) and
``make test``, and commits. It makes no tag and never pushes: pushing the
commit to ``main`` publishes it (``.github/workflows/release.yml``).

``tag`` is the release workflow's tagging step, and ``make compat`` runs it
too: when the tag ``v<version>`` of the version at HEAD does not exist, it
creates it (annotated, on HEAD) and, with ``--remote REMOTE``, first fetches
that remote's tags (the remote decides whether the release exists) and pushes
the new tag there. A
version that did not change since its tag is not released again. ``--plan``
only says whether a release is due. The repository may be bare.

``check-tag`` is the guard of the publishing path: the deploy workflow and
``make publish-check`` run it before building the website; ``--exact`` also
requires the checked-out commit to be the tag's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = Path("course_utils") / "__init__.py"
CHANGELOG = Path("CHANGELOG.md")
CITATION = Path("CITATION.cff")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', flags=re.MULTILINE)
UNRELEASED = "## [Unreleased]"
#: The commands a release runs between setting the version and committing.
BUILD_COMMANDS = (("make", "notebooks"), ("make", "test"))


class ReleaseError(RuntimeError):
    """A release or publication that must not go ahead; the message says why."""


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if result.returncode:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def read_version(text: str) -> str:
    """The ``__version__`` set in the text of ``course_utils/__init__.py``.

    >>> read_version('__version__ = "1.2.3"\\n')
    '1.2.3'
    """
    match = VERSION_LINE.search(text)
    if match is None:
        raise ReleaseError(f"{VERSION_FILE} has no line __version__ = \"x.y.z\"")
    return match["version"]


def current_version(root: Path = ROOT) -> str:
    """The version in ``course_utils/__init__.py`` of the working tree at ``root``."""
    return read_version((root / VERSION_FILE).read_text(encoding="utf-8"))


def check_tag(root: Path = ROOT, version: str | None = None, exact: bool = False) -> str:
    """Return ``v<version>`` if that tag exists at ``root`` and holds that version.

    Raises :class:`ReleaseError` otherwise: publishing the website or notebooks
    would send every student to an install that fails. With ``exact``, the
    commit checked out (HEAD) must be the tag's: a website built from another
    commit would publish pages that the release does not hold.

    >>> check_tag(version="0.0.0-never")   # doctest: +SKIP
    Traceback (most recent call last):
    ...
    ReleaseError: the tag v0.0.0-never does not exist ...
    """
    version = version or current_version(root)
    tag = f"v{version}"
    found = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--quiet", "--verify", f"refs/tags/{tag}"],
        capture_output=True, text=True,
    )
    if found.returncode:
        raise ReleaseError(
            f"the tag {tag} does not exist in {root}: every set-up cell installs "
            f"course_utils from it. Fetch the tags (`git fetch --tags`); the release "
            f"workflow creates {tag} when the commit that sets version {version} is "
            "pushed to main (see book/publishing.md)."
        )
    tagged = read_version(_git(root, "show", f"{tag}:{VERSION_FILE.as_posix()}"))
    if tagged != version:
        raise ReleaseError(f"the tag {tag} holds course_utils {tagged}, not {version}")
    if exact:
        head, commit = (_git(root, "rev-parse", f"{rev}^{{commit}}").strip()
                        for rev in ("HEAD", tag))
        if head != commit:
            raise ReleaseError(
                f"the commit checked out ({head[:12]}) is not the tag {tag}'s ({commit[:12]}): "
                "only the released commit is published. Deploy from the tag's commit, "
                "or release a new version."
            )
    return tag


class TagPlan(NamedTuple):
    """What the tagging step finds: the version at HEAD and whether its tag exists."""

    version: str
    tag: str
    head: str
    #: The commit the tag points to, or None when the tag does not exist yet.
    tagged_commit: str | None

    @property
    def due(self) -> bool:
        """True when the tag is missing: this commit releases ``version``."""
        return self.tagged_commit is None


def plan_tag(root: Path = ROOT, remote: str | None = None) -> TagPlan:
    """Read the version at HEAD of ``root`` (which may be bare) and look for its tag.

    With ``remote``, the remote's tags are fetched first: the remote (GitHub)
    decides whether the release exists.
    """
    if remote:
        _git(root, "fetch", "--quiet", "--tags", remote)
    version = read_version(_git(root, "show", f"HEAD:{VERSION_FILE.as_posix()}"))
    if not VERSION.match(version):
        raise ReleaseError(f"{VERSION_FILE} at HEAD sets {version!r}, not a version like 1.2.3")
    tag = f"v{version}"
    head = _git(root, "rev-parse", "HEAD^{commit}").strip()
    found = subprocess.run(["git", "-C", str(root), "rev-parse", "--quiet", "--verify",
                            f"refs/tags/{tag}^{{commit}}"], capture_output=True, text=True)
    plan = TagPlan(version, tag, head, found.stdout.strip() if found.returncode == 0 else None)
    if not plan.due:
        tagged = read_version(_git(root, "show", f"{tag}:{VERSION_FILE.as_posix()}"))
        if tagged != version:
            raise ReleaseError(f"the tag {tag} holds course_utils {tagged}, not {version}")
    return plan


def make_tag(root: Path = ROOT, remote: str | None = None) -> TagPlan:
    """Create the annotated tag ``v<version>`` on HEAD when it is due; push it to ``remote``.

    A version whose tag exists already (on HEAD or on an earlier commit: the
    version did not change) is left alone. Returns the plan that was acted on.
    """
    plan = plan_tag(root, remote)
    if plan.due:
        _git(root, "-c", "user.name=" + os.environ.get("GIT_COMMITTER_NAME", "course release"),
             "-c", "user.email=" + os.environ.get("GIT_COMMITTER_EMAIL", "release@localhost"),
             "tag", "--annotate", plan.tag, "-m", f"course_utils {plan.version}", plan.head)
        if remote:
            _git(root, "push", "--quiet", remote, f"refs/tags/{plan.tag}")
    return plan


def _report_plan(plan: TagPlan, acted: bool) -> None:
    """Say what the tagging step found, and give the workflow its outputs."""
    if plan.due:
        done = "tagged" if acted else "will tag"
        print(f"release: {done} {plan.tag} on {plan.head[:12]} (course_utils {plan.version})")
    else:
        where = "this commit" if plan.tagged_commit == plan.head else plan.tagged_commit[:12]
        print(f"release: {plan.tag} exists (on {where}): version {plan.version} is released "
              "already, nothing to tag")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as out:
            out.write(f"version={plan.version}\ntag={plan.tag}\n"
                      f"due={'true' if plan.due else 'false'}\n")


def _changelog_with_release(text: str, version: str, date: str) -> str:
    """Move the entries under ``[Unreleased]`` to a new section for ``version``."""
    if UNRELEASED not in text:
        raise ReleaseError(f"{CHANGELOG} has no '{UNRELEASED}' section")
    head, rest = text.split(UNRELEASED, 1)
    following = re.search(r"^## ", rest, flags=re.MULTILINE)
    entries = rest[: following.start()] if following else rest
    if not entries.strip():
        raise ReleaseError(
            f"{CHANGELOG} lists nothing under '{UNRELEASED}': say what changed first"
        )
    later = rest[following.start():] if following else ""
    section = f"## [{version}] - {date}\n\n{entries.strip()}\n\n"
    return f"{head}{UNRELEASED}\n\n{section}{later}".rstrip() + "\n"


def release_notes(version: str, root: Path = ROOT) -> str:
    """The entries CHANGELOG.md lists under ``version``: the GitHub Release's notes.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "CHANGELOG.md").write_text("## [1.0.0] - 2026-01-01\\n\\n- First.\\n")
    >>> release_notes("1.0.0", folder)
    '- First.'
    """
    text = (root / CHANGELOG).read_text(encoding="utf-8")
    found = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n(?P<entries>.*?)(?=^## |\Z)",
                      text, flags=re.MULTILINE | re.DOTALL)
    if found is None or not found["entries"].strip():
        raise ReleaseError(f"{CHANGELOG} has no entries under '## [{version}]'")
    return found["entries"].strip()


def _citation_with_release(text: str, version: str, date: str) -> str:
    """CITATION.cff's text with ``version`` and ``date-released`` set."""
    for key, value in (("version", version), ("date-released", date)):
        text, count = re.subn(
            rf"^{key}: .*$", f'{key}: "{value}"', text, count=1, flags=re.MULTILINE
        )
        if not count:
            raise ReleaseError(f"{CITATION} has no '{key}:' line")
    return text


def release(
    version: str,
    root: Path = ROOT,
    commands: Sequence[Sequence[str]] = BUILD_COMMANDS,
    date: str | None = None,
) -> str:
    """Prepare release ``version`` at ``root``: version, notebooks, tests, commit.

    Returns the name of the tag that the release workflow will create once the
    commit reaches ``main``. ``commands`` run in ``root`` after the version is
    set; any failure stops the release before anything is committed.
    """
    if not VERSION.match(version):
        raise ReleaseError(f"VERSION must look like 1.2.3, got {version!r}")
    if _git(root, "status", "--porcelain"):
        raise ReleaseError("the working tree has uncommitted changes: commit or stash them first")
    tag = f"v{version}"
    if _git(root, "tag", "--list", tag).strip():
        raise ReleaseError(f"the tag {tag} exists already")
    date = date or datetime.date.today().isoformat()
    changelog = _changelog_with_release(
        (root / CHANGELOG).read_text(encoding="utf-8"), version, date
    )
    citation = None
    if (root / CITATION).exists():
        citation = _citation_with_release(
            (root / CITATION).read_text(encoding="utf-8"), version, date
        )
    version_path = root / VERSION_FILE
    text = version_path.read_text(encoding="utf-8")
    read_version(text)  # fails clearly if the line is missing
    version_path.write_text(VERSION_LINE.sub(f'__version__ = "{version}"', text), encoding="utf-8")
    # Before the build and the tests: they check that these name the version.
    (root / CHANGELOG).write_text(changelog, encoding="utf-8")
    if citation is not None:
        (root / CITATION).write_text(citation, encoding="utf-8")
    for command in commands:
        print("release:", " ".join(command), flush=True)
        if subprocess.run(list(command), cwd=root).returncode:
            raise ReleaseError(
                f"`{' '.join(command)}` failed; nothing was committed (the working tree "
                f"has version {version} and its changelog: fix, or `git checkout .`)"
            )
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", f"Release {version}")
    print(f"release: committed 'Release {version}'. Push it to main: the release workflow "
          f"then tests it, creates the tag {tag} and the GitHub Release, and deploys the website.")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("release", help="set the version, rebuild, test and commit")
    make.add_argument("version", help="the new version, e.g. 0.2.0")
    tagger = sub.add_parser("tag", help="tag v<version> on HEAD unless that tag exists")
    tagger.add_argument("--plan", action="store_true", help="only say whether a tag is due")
    tagger.add_argument("--remote", help="fetch this remote's tags first; push the new tag to it")
    tagger.add_argument("--repo", type=Path, default=ROOT, help="default: this repository")
    notes = sub.add_parser("notes", help="print the changelog entries of a version")
    notes.add_argument("version")
    guard = sub.add_parser("check-tag", help="fail unless the tag of the current version exists")
    guard.add_argument("--version", help="default: the version in course_utils/__init__.py")
    guard.add_argument("--exact", action="store_true", help="HEAD must be the tag's commit")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            release(args.version)
        elif args.command == "notes":
            print(release_notes(args.version))
        elif args.command == "tag":
            if args.plan:
                _report_plan(plan_tag(args.repo, args.remote), acted=False)
            else:
                _report_plan(make_tag(args.repo, args.remote), acted=True)
        else:
            tag = check_tag(version=args.version, exact=args.exact)
            print(f"{tag} exists{' and is checked out' if args.exact else ''}: ready to publish")
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
