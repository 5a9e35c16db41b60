"""Every student their own dataset: identity -> seed, folders of their own, byte-identical files.

The default dataset (no identity) must stay byte for byte what it was before
per-student datasets existed: its hash is pinned to the generator of commit
e606baa (computed there with the same helper as below).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import course_utils
from course_utils.data import dataset_dir, students
from course_utils.data.__main__ import main
from course_utils.data.identity import DEFAULT_SEED
from course_utils.data.layout import FRAMES, PTC_FRAMES, SCIENCE_FRAMES
from course_utils.data.models import flat_model, ifum_model
from course_utils.data.ptc import ptc_model
from course_utils.data.science import generate_science, science_dir
from course_utils.data.synthetic import generate
from data_fixtures import isolated_env

ADA, ALAN = "ada.lovelace@uni.example", "alan.turing@uni.example"

#: SHA-256 over (path, bytes) of every file of the small default dataset and science
#: folder, made by the generator at commit e606baa (before per-student datasets).
DEFAULT_SMALL_SHA256 = "7bff5f809a74395cfc7726e473ccef01fd36d3aa3e60fd94f4c826b77356b3e1"


def _tree_hash(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != "course_dataset.json" and not path.name.endswith(".lock"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.delenv(students.STUDENT_ENV, raising=False)
    return isolated_env(monkeypatch, tmp_path)


# --- Identity -> seed -----------------------------------------------------------------


def test_the_seed_is_the_first_48_bits_of_the_sha256_of_the_normalised_identity():
    expected = int.from_bytes(hashlib.sha256(b"course_utils student\0" + ADA.encode()).digest()[:6], "big")
    assert students.student_seed(ADA) == expected
    assert students.student_tag(ADA) == f"{expected:012x}"


def test_a_pinned_identity_keeps_its_seed_across_versions():
    # Computed once with hashlib by hand; a change here would give every student new data.
    digest = hashlib.sha256("course_utils student\0ada@uni.edu".encode()).hexdigest()
    assert students.student_tag("ada@uni.edu") == digest[:12] == "1285555d8488"


@pytest.mark.parametrize("variant", ["ADA.Lovelace@uni.example", f"  {ADA}\n", ADA.upper(),
                                     "ada.lovelace@uni.EXAMPLE"])
def test_case_and_surrounding_spaces_do_not_make_another_student(variant):
    assert students.student_seed(variant) == students.student_seed(ADA)


def test_unicode_forms_are_one_student():
    composed, decomposed = "jos\u00e9@uni.example", "jose\u0301@uni.example"
    assert students.student_seed(composed) == students.student_seed(decomposed)


@pytest.mark.parametrize("bad, error", [("", ValueError), ("   ", ValueError), ("x" * 201, ValueError),
                                        (None, TypeError), (42, TypeError), (b"ada", TypeError)])
def test_unusable_identities_are_refused_with_a_reason(bad, error):
    with pytest.raises(error, match="identity"):
        students.student_seed(bad)


def test_seeds_are_stable_in_a_fresh_interpreter_with_another_hash_seed():
    code = "from course_utils.data.students import student_seed; print(student_seed('ada@uni.edu'))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert outputs == {f"{students.student_seed('ada@uni.edu')}\n"}


def test_use_student_sets_and_clears_the_identity(monkeypatch, capsys):
    monkeypatch.delenv(students.STUDENT_ENV, raising=False)
    seed = course_utils.use_student(ADA)
    assert "your own dataset" in capsys.readouterr().out
    assert os.environ[students.STUDENT_ENV] == ADA and students.current_seed() == seed != DEFAULT_SEED
    assert course_utils.use_student(None, verbose=False) == DEFAULT_SEED
    assert students.current_student() is None and students.current_seed() == DEFAULT_SEED


def test_a_blank_environment_variable_means_no_student(monkeypatch):
    monkeypatch.setenv(students.STUDENT_ENV, "  ")
    assert students.current_seed() == DEFAULT_SEED


# --- Folders of their own ---------------------------------------------------------------


def test_without_identity_the_default_dataset_is_byte_identical_to_before(cache):
    root = dataset_dir(preset="small", verbose=False)
    science = science_dir("small", verbose=False)
    assert (root.name, science.name) == ("synthetic-small", "synthetic-science-small")
    assert _tree_hash(root, science) == DEFAULT_SMALL_SHA256


def test_each_student_gets_folders_of_their_own(cache, monkeypatch, capsys):
    monkeypatch.setenv(students.STUDENT_ENV, ADA)
    ada = dataset_dir(preset="small")
    line = capsys.readouterr().out
    tag = students.student_tag(ADA)
    assert ada == cache / f"synthetic-small-{tag}" and f"seed {students.student_seed(ADA)}" in line
    assert ADA not in "".join(str(p) for p in cache.rglob("*"))  # the identity is never written
    assert science_dir("small", verbose=False) == cache / f"synthetic-science-small-{tag}"
    from course_utils.data.locate import dataset_dir_for

    assert dataset_dir_for([f.path for f in PTC_FRAMES], "PTC", "small", verbose=False) == ada
    monkeypatch.setenv(students.STUDENT_ENV, ALAN)
    alan = dataset_dir(preset="small", verbose=False)
    assert alan != ada and alan.parent == ada.parent
    assert fits.getheader(ada / FRAMES[0].path)["GENSEED"] == students.student_seed(ADA)


def test_two_students_get_different_frames_and_truths(cache):
    a, b = students.student_seed(ADA), students.student_seed(ALAN)
    roots = [generate(cache / name, "small", seed, progress=False) for name, seed in (("a", a), ("b", b))]
    for frame in (FRAMES[0], FRAMES[-1], PTC_FRAMES[-1]):
        first, second = (fits.getdata(r / frame.path) for r in roots)
        assert not np.array_equal(first, second), frame.path
    ta, tb = ifum_model("small", a), ifum_model("small", b)
    assert (ta.gain, ta.read_noise_e, ta.bias_level) != (tb.gain, tb.read_noise_e, tb.bias_level)
    assert not np.array_equal(flat_model("ift", "c2", "small", a).vignetting,
                              flat_model("ift", "c2", "small", b).vignetting)
    assert ptc_model("small", a).full_well_e != ptc_model("small", b).full_well_e


def test_the_same_student_gets_byte_identical_files_in_a_fresh_cache(tmp_path):
    seed = students.student_seed(ADA)
    first = [generate(tmp_path / "one" / "d", "small", seed, progress=False),
             generate_science(tmp_path / "one" / "s", "small", seed, progress=False)]
    second = [generate(tmp_path / "two" / "d", "small", seed, progress=False),
              generate_science(tmp_path / "two" / "s", "small", seed, progress=False)]
    assert _tree_hash(*first) == _tree_hash(*second)


def test_headers_state_the_students_true_gain_and_read_noise(cache):
    seed = students.student_seed(ALAN)
    root = generate(cache / "alan", "small", seed, progress=False)
    ifum = ifum_model("small", seed)
    header = fits.getheader(root / FRAMES[0].path)
    assert (header["EGAIN"], header["ENOISE"]) == (ifum.gain, ifum.read_noise_e)
    flat_frame = next(f for f in FRAMES if f.camera == "ift")
    flat = flat_model("ift", "c2", "small", seed)
    header = fits.getheader(root / flat_frame.path)
    assert (header["EGAIN"], header["ENOISE"]) == (flat.gain, flat.read_noise_e)
    science = generate_science(cache / "alan-science", "small", seed, progress=False)
    assert fits.getheader(science / SCIENCE_FRAMES[0].path)["EGAIN"] == flat.gain
    # The overscan of a bias frame sits at the student's bias level, not the default's.
    raw = fits.getdata(root / FRAMES[0].path)
    assert abs(np.median(raw[:, -10:]) - ifum.bias_level) < 1.5


def test_the_real_frames_say_they_are_the_same_for_every_student(cache, monkeypatch):
    from course_utils.data.locate import describe_choice

    monkeypatch.setenv(students.STUDENT_ENV, ADA)
    monkeypatch.setenv("COURSE_DATA_SOURCE", "magellan")
    _, line, action = describe_choice(preset="small")
    assert action == "fetch" and "same for every student" in line


# --- Command line -----------------------------------------------------------------------


def test_generate_student_and_info_lists_the_students_folders(cache, capsys, monkeypatch):
    assert main(["generate", "--student", ADA, "--preset", "small", "--no-progress"]) == 0
    tag = students.student_tag(ADA)
    assert (cache / f"synthetic-small-{tag}" / "course_dataset.json").is_file()
    assert (cache / f"synthetic-science-small-{tag}" / "course_dataset.json").is_file()
    capsys.readouterr()
    assert main(["info", "--preset", "small"]) == 0
    out = capsys.readouterr().out
    assert f"synthetic-small-{tag}" in out and f"synthetic-science-small-{tag}" in out
    assert main(["generate", "--student", ADA, "--seed", "3"]) == 1
    assert "not both" in capsys.readouterr().err


def test_the_ta_command_prints_the_students_true_parameters(capsys):
    assert main(["student", ALAN, "--preset", "small"]) == 0
    out = capsys.readouterr().out
    model = ifum_model("small", students.student_seed(ALAN))
    assert students.student_tag(ALAN) in out
    assert f"EGAIN {model.gain} e-/DU" in out and f"bias {model.bias_level} DU" in out
