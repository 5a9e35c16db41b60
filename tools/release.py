"""Release the course, and refuse to publish a release that does not exist.

A release is a commit tagged ``v<version>``: every notebook's set-up cell
installs ``course_utils`` from that tag (see ``tools/notebooks.py``), so a
website or a notebook that names a missing tag fails for every student.

Usage::

    python tools/release.py release 0.2.0   # what `make release VERSION=0.2.0` runs
    python tools/release.py check-tag       # fail unless v<current version> exists

``release`` refuses a dirty tree, an ill-formed version, a tag that exists
already and a CHANGELOG.md with nothing under ``[Unreleased]``. Then it sets
the version in its one place (``course_utils/__init__.py``), moves the
changelog's ``[Unreleased]`` entries under the new version, sets the version
and date in CITATION.cff, runs ``make notebooks`` (set-up cells, student
versions, stored outputs) and ``make test``, commits, and creates the
annotated tag. It never pushes.

``check-tag`` is the guard of the publishing path: the deploy workflow and
``make publish-check`` run it before building the website.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

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


def check_tag(root: Path = ROOT, version: str | None = None) -> str:
    """Return ``v<version>`` if that tag exists at ``root`` and holds that version.

    Raises :class:`ReleaseError` otherwise: publishing the website or notebooks
    would send every student to an install that fails.

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
            f"course_utils from it. Fetch the tags (`git fetch --tags`), or tag the "
            f"commit that released {version} (`git tag -a {tag}`); `make release "
            "VERSION=x.y.z` makes and tags the next release."
        )
    tagged = read_version(_git(root, "show", f"{tag}:{VERSION_FILE.as_posix()}"))
    if tagged != version:
        raise ReleaseError(f"the tag {tag} holds course_utils {tagged}, not {version}")
    return tag


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
    """Make release ``version`` at ``root``: version, notebooks, tests, commit, tag.

    Returns the tag's name. ``commands`` run in ``root`` after the version is
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
    _git(root, "tag", "--annotate", tag, "-m", f"course_utils {version}")
    print(f"release: committed and tagged {tag}; publish with `git push --follow-tags`")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("release", help="set the version, rebuild, test, commit and tag")
    make.add_argument("version", help="the new version, e.g. 0.2.0")
    guard = sub.add_parser("check-tag", help="fail unless the tag of the current version exists")
    guard.add_argument("--version", help="default: the version in course_utils/__init__.py")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            release(args.version)
        else:
            print(f"{check_tag(version=args.version)} exists: ready to publish")
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
