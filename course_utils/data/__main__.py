"""Command line of the course dataset: ``python -m course_utils.data COMMAND``.

Commands::

    generate   write the synthetic dataset (offline)
    fetch      download the real Magellan frames, verified against the manifest
    verify     hash every file of a dataset and compare with its records
    info       show where the data is and what dataset_dir() would use
    student    for a teaching assistant: a student's folders and true detector parameters

Every command has ``--help``. The exit status is 0 on success, 1 on failure
and 2 for a usage error. (An instructor's manifest of their own frames is
written by ``python tools/build_manifest.py --local FOLDER`` in the repository.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import __version__
from . import identity, store
from .fetch import FetchError, fetch_frames
from .store import display_path, regenerate_command
from .layout import PRESETS
from .locate import CACHE_ENV, DATA_DIR_ENV, SOURCE_ENV, WORK_ENV, cache_dir, cache_status, describe_choice
from .manifest import MANIFEST_ENV, load_manifest, real_entries
from .science import generate_science, science_dir
from .students import STUDENT_ENV, current_seed, folder_name, normalise, seed_tag, student_seed
from .synthetic import describe_model, generate
from .variation import table

EPILOG = """examples:
  python -m course_utils.data generate                  # the synthetic dataset, into the cache
  python -m course_utils.data generate --preset small --output /tmp/course_data
  python -m course_utils.data fetch                     # the real frames (needs the network)
  python -m course_utils.data verify                    # check every dataset in the cache
  python -m course_utils.data info
  python -m course_utils.data generate --student ada@uni.edu   # that student's own dataset
  python -m course_utils.data student ada@uni.edu              # their true parameters (for a TA)
"""


class CommandError(Exception):
    """A failure to report in one message, with exit status 1."""


def _seed_of(args) -> int:
    """The seed asked for: ``--student``'s, else ``--seed``, else ``COURSE_STUDENT``'s or the default."""
    if args.student is not None:
        if args.seed is not None:
            raise CommandError("give --student or --seed, not both")
        return student_seed(args.student)
    return current_seed() if args.seed is None else identity.check_seed(args.seed)


def _cmd_generate(args) -> int:
    kind = "science" if args.science else "synthetic"
    seed = _seed_of(args)
    if args.output:
        out = Path(args.output)
    else:
        out = cache_dir() / folder_name("synthetic-science" if args.science else "synthetic", args.preset, seed)
    info = getattr(identity, kind)(args.preset, seed)
    already = store.check(out, info, []).ok and not args.force
    make = generate_science if args.science else generate
    root = make(out, args.preset, seed, progress=not args.no_progress, overwrite=args.force)
    verb = "Already complete (use --force to make it again):" if already else "Wrote"
    print(f"{verb} {identity.describe(info)} in {display_path(root)}")
    if args.student is not None and not args.output and not args.science:
        science_dir(args.preset, seed, verbose=True)
    return 0


def _cmd_student(args) -> int:
    seed = student_seed(args.identity)
    print(f"student {normalise(args.identity)!r}: seed {seed}, tag {seed_tag(seed)}")
    print(f"  folders in {display_path(cache_dir())}: {folder_name('synthetic', args.preset, seed)}, "
          f"{folder_name('synthetic-science', args.preset, seed)}")
    print("true parameters (for the teaching assistant; never shown in a notebook):")
    for line in table(seed).splitlines():
        print(f"  {line}")
    print(f"the model ({args.preset} preset):")
    for line in describe_model(args.preset, seed).splitlines():
        print(f"  {line}")
    return 0


def _cmd_fetch(args) -> int:
    manifest = load_manifest(args.manifest)
    out = Path(args.output) if args.output else cache_dir() / "magellan"
    root = fetch_frames(out, manifest=manifest, base_url=args.base_url,
                        progress=not args.no_progress)
    print(f"Downloaded and verified {len(real_entries(manifest))} real frames in {display_path(root)}")
    return 0


def _datasets_to_verify(args) -> list[Path]:
    if args.folders:
        return [Path(folder) for folder in args.folders]
    found = []
    if os.environ.get(DATA_DIR_ENV):
        found.append(Path(os.environ[DATA_DIR_ENV]).expanduser())
    cache = cache_dir()
    if cache.is_dir():
        found += sorted(p for p in cache.iterdir()
                        if p.is_dir() and not p.name.startswith(".") and
                        (p / store.MARKER_NAME).exists())
    return found


def _cmd_verify(args) -> int:
    folders = _datasets_to_verify(args)
    if not folders:
        raise CommandError("No dataset to verify: none in the cache, and no folder given. "
                           "Make one with `python -m course_utils.data generate`.")
    manifest = load_manifest(args.manifest)
    failed = []
    for folder in folders:
        if not folder.is_dir():
            print(f"FAILED  {display_path(folder)}: not a folder")
            failed.append(f"generate --output {display_path(folder)}")
            continue
        problems = store.full_check(folder, manifest=manifest, progress=not args.no_progress)
        try:
            content = store.read_marker(folder)
        except ValueError:
            content = None
        what = identity.describe(content) if content else "the files listed in the manifest"
        if problems:
            failed.append(regenerate_command(folder).removeprefix("python -m course_utils.data "))
            print(f"FAILED  {display_path(folder)} ({what}): {len(problems)} problem(s)")
            for problem in problems[:20]:
                print(f"   {problem}")
            if len(problems) > 20:
                print(f"   ... and {len(problems) - 20} more")
        else:
            print(f"OK      {display_path(folder)} ({what})")
    if failed:
        commands = "\n".join(f"    python -m course_utils.data {command}" for command in failed)
        print(f"{len(failed)} of {len(folders)} dataset(s) failed verification. Make them again with:\n"
              f"{commands}\n(files that are not a dataset's are left as they are)", file=sys.stderr)
        return 1
    return 0


def _cmd_info(args) -> int:
    print(f"course_utils {__version__}: the course dataset")
    for name in (DATA_DIR_ENV, SOURCE_ENV, CACHE_ENV, WORK_ENV, MANIFEST_ENV, STUDENT_ENV):
        print(f"  {name:<21} {os.environ.get(name) or '(not set)'}")
    cache = cache_dir()
    print(f"cache folder: {display_path(cache)}")
    for name, state in cache_status():
        print(f"  {name:<23} {state}")
    manifest = load_manifest()
    source = manifest.get("source") or {}
    print(f"manifest: {len(manifest['files'])} files, {len(real_entries(manifest))} real frames "
          f"from {source.get('repository', '?')} at {str(source.get('commit', '?'))[:7]}")
    try:
        root, line, action = describe_choice(preset=args.preset)
        todo = {None: "ready", "generate": "will be generated on first use",
                "fetch": "will be downloaded on first use"}[action]
        print(f"dataset_dir(preset={args.preset!r}) -> {line[len('Using '):]} [{todo}]")
    except (FileNotFoundError, ValueError) as error:
        print(f"dataset_dir(preset={args.preset!r}) would fail: {error}")
    if args.model:
        print("synthetic model:")
        for line in describe_model(args.preset, current_seed()).splitlines():
            print(f"  {line}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m course_utils.data``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.data",
        description="The course dataset: generate the synthetic frames, download the real ones, "
                    "and check them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser(
        "generate", help="write the synthetic dataset (offline)",
        description="Write the synthetic course dataset: the 63 calibration frames with the real "
                    "layout, names, shapes, dtypes and headers. Default folder: "
                    "<cache>/synthetic-<preset>.")
    gen.add_argument("--preset", choices=sorted(PRESETS), default="full",
                     help="full: the real sizes (default); small: every dimension / 4, for tests")
    gen.add_argument("--seed", type=int, default=None,
                     help=f"random seed; the same seed gives identical files (default {identity.DEFAULT_SEED}, "
                          "or COURSE_STUDENT's)")
    gen.add_argument("--student", metavar="ID",
                     help="that student's own dataset (and science frames), in their folders of the cache")
    gen.add_argument("--output", metavar="DIR", help="the dataset folder to write")
    gen.add_argument("--force", action="store_true",
                     help="make every file of the course dataset in DIR again, also of another "
                          "dataset (files that are not the dataset's are never touched)")
    gen.add_argument("--science", action="store_true",
                     help="write notebook 5's synthetic science frames instead (default folder: "
                          "<cache>/synthetic-science-<preset>)")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_generate)

    fetch = commands.add_parser(
        "fetch", help="download the real Magellan frames (verified)",
        description="Download the real frames listed in the manifest, check each against its "
                    "hash before keeping it, and mark the folder complete. Default folder: "
                    "<cache>/magellan.")
    fetch.add_argument("--output", metavar="DIR", help="the dataset folder to fill")
    fetch.add_argument("--manifest", metavar="FILE", help="another manifest (default: the course's)")
    fetch.add_argument("--base-url", metavar="URL",
                       help="download from URL/<path> instead of the manifest's addresses")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_cmd_fetch)

    verify = commands.add_parser(
        "verify", help="hash every file of a dataset and compare",
        description="Hash every file of each dataset folder and compare it with the folder's "
                    "course_dataset.json (or, without one, with the manifest). Default: every "
                    "dataset in the cache, and COURSE_DATA_DIR if set.")
    verify.add_argument("folders", nargs="*", metavar="DIR", help="dataset folders to check")
    verify.add_argument("--manifest", metavar="FILE", help="another manifest (default: the course's)")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(func=_cmd_verify)

    info = commands.add_parser(
        "info", help="show where the data is and what dataset_dir() would use",
        description="Show the environment variables, the datasets in the cache and what "
                    "dataset_dir() would use. Generates and downloads nothing.")
    info.add_argument("--preset", choices=sorted(PRESETS), default="full",
                      help="the preset dataset_dir() is asked for (default full)")
    info.add_argument("--model", action="store_true", help="also summarize the synthetic model")
    info.set_defaults(func=_cmd_info)

    student = commands.add_parser(
        "student", help="a student's folders and true detector parameters (for a TA)",
        description="Print the seed, the cache folders and the true detector parameters of a "
                    "student's own dataset: what their answers should come close to. Generates "
                    "nothing.")
    student.add_argument("identity", metavar="ID", help="the student's identity (e.g. e-mail address)")
    student.add_argument("--preset", choices=sorted(PRESETS), default="full")
    student.set_defaults(func=_cmd_student)

    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CommandError, FetchError, FileExistsError, FileNotFoundError, PermissionError,
            ValueError, KeyError, json.JSONDecodeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing incomplete was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
