"""Checks judge against the student's own dataset; another student's numbers are rejected.

Three datasets share one course cache (small preset): the course's default
one and two students', Ada's and Alan's, each with its science folder.

* Every correct answer of the corpus (``test_checks_corpus``) and the
  reference solutions of Exercises 7-10 are correct on each student's own
  dataset.
* The reference answers computed on one dataset and checked against another
  are incorrect, and the message says "these numbers do not match your
  dataset: did you copy them, or load another student's frames?" -- for every
  exercise but 3, whose answer is a function, the same for everyone.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from course_utils import checks as check
from course_utils import combine, solutions
from course_utils.data import dataset_dir
from course_utils.data.science import CATALOGUE_PATH, FLAT_PATHS, SCIENCE_FRAMES, read_catalogue, science_dir
from course_utils.data.students import STUDENT_ENV, student_seed
from test_checks_corpus import CORPUS, Data

IDENTITIES = {"ada": "ada.lovelace@uni.example", "alan": "alan.turing@uni.example"}
RADIUS, SKY = 4, (6, 10)  # the small preset's stars are 1 pixel wide (as in test_checks_science)
COPIED = "do not match your dataset: did you copy them, or load another student's frames?"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """{'default' | 'ada' | 'alan': (calibration folder, science folder)} in one cache."""
    cache = tmp_path_factory.mktemp("students-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CACHE_DIR", str(cache))
        patch.delenv(STUDENT_ENV, raising=False)
        patch.delenv("COURSE_DATA_DIR", raising=False)
        patch.setenv("COURSE_DATA_SOURCE", "synthetic")
        found = {"default": (dataset_dir(preset="small", verbose=False),
                             science_dir("small", verbose=False))}
        for name, identity in IDENTITIES.items():
            seed = student_seed(identity)
            found[name] = (dataset_dir(preset="small", seed=seed, verbose=False),
                           science_dir("small", seed, verbose=False))
        yield found


@pytest.fixture(scope="module")
def answers(datasets):
    """The reference answers of every exercise, computed on each dataset."""
    return {name: _reference_answers(*folders) for name, folders in datasets.items()}


def _reference_answers(root, science) -> dict[int, dict]:
    data = Data(root)
    found = {n: CORPUS[n][0][1](data) for n in (1, 2, 4, 5, 6)}  # each table's "reference" row
    assert all(CORPUS[n][0][0] == "reference" for n in (1, 2, 4, 5, 6))
    header = fits.getheader(root / check.PTC_PAIRS[0][0])
    points = [solutions.pair_statistics(fits.getdata(root / a), fits.getdata(root / b),
                                        header["DATASEC"], header["BIASSEC"]) for a, b in check.PTC_PAIRS]
    signal, variance = [p.signal for p in points], [p.variance for p in points]
    fit = solutions.fit_gain(signal, variance, np.sqrt(variance[0]))
    found[9] = {"signal": signal, "variance": variance, "gain": fit.gain}
    found[10] = {"read_noise_du": np.sqrt(variance[0]), "read_noise_e": np.sqrt(variance[0]) * fit.gain}
    found[7], found[8] = _science_answers(science)
    return found


def _science_answers(science):
    header = fits.getheader(science / SCIENCE_FRAMES[0].path)
    raws = [fits.getdata(science / f.path) for f in SCIENCE_FRAMES]
    master = solutions.master_flat([fits.getdata(science / p) for p in FLAT_PATHS],
                                   header["DATASEC"], header["BIASSEC"])
    calibrated = [solutions.calibrate_frame(raw, master, header["DATASEC"], header["BIASSEC"])
                  for raw in raws]
    rows, cols = solutions.fits_section(header["BIASSEC"])
    trimmed = [(r.astype(np.float64) - np.median(r[rows, cols])).T[:master.shape[0], :master.shape[1]]
               for r in raws]
    stars = read_catalogue(science / CATALOGUE_PATH)
    shift = fits.getheader(science / SCIENCE_FRAMES[3].path)
    x1, y1 = stars["x"][0], stars["y"][0]
    x2, y2 = x1 + shift["DITHX"], y1 + shift["DITHY"]

    def ratio(frames):
        one = combine(np.stack(frames[:3]), method="median")
        two = combine(np.stack(frames[3:]), method="median")
        return (solutions.aperture_flux(two, x2, y2, RADIUS, SKY)[0]
                / solutions.aperture_flux(one, x1, y1, RADIUS, SKY)[0])

    flat_fielded = [frame / master for frame in trimmed]
    return {"calibrated": calibrated[0]}, {"ratio_before": ratio(trimmed), "ratio_after": ratio(flat_fielded)}


def _check(exercise: int, answer: dict, folders) -> check.Feedback:
    root, science = folders
    function = getattr(check, f"exercise_{exercise}")
    if exercise in (7, 8):
        return function(namespace={**answer, "science_root": science})
    return function(**answer, data_dir=root, namespace={})


EXERCISES = (1, 2, 4, 5, 6, 7, 8, 9, 10)


@pytest.mark.parametrize("student", sorted(IDENTITIES))
@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_reference_solutions_are_correct_on_each_students_own_dataset(exercise, student, datasets,
                                                                          answers):
    feedback = _check(exercise, answers[student][exercise], datasets[student])
    assert feedback.status == "correct", repr(feedback)


@pytest.mark.parametrize("student", sorted(IDENTITIES))
@pytest.mark.parametrize("exercise", (1, 2, 4, 5, 6))
def test_every_correct_answer_of_the_corpus_is_correct_for_each_student(exercise, student, datasets):
    data = Data(datasets[student][0])
    for name, build, status, _ in CORPUS[exercise]:
        if status == "correct":
            feedback = check.__dict__[f"exercise_{exercise}"](**build(data), data_dir=data.root, namespace={})
            assert feedback.status == "correct", f"{name}: {feedback!r}"


@pytest.mark.parametrize("source, own", [("ada", "alan"), ("alan", "ada"), ("default", "ada")])
@pytest.mark.parametrize("exercise", EXERCISES)
def test_numbers_from_another_dataset_are_rejected_with_the_copied_message(exercise, source, own,
                                                                          datasets, answers, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(datasets["default"][0].parent))
    feedback = _check(exercise, answers[source][exercise], datasets[own])
    if exercise == 8 and feedback.status == "correct":
        # Exercise 8 cannot tell two students whose vignetting dims star 1 alike: its answer is
        # one ratio near 0.8, accepted within 0.02 of the truth (about one pair in three).
        assert abs(answers[source][8]["ratio_before"] - answers[own][8]["ratio_before"]) < 0.04
        return
    assert feedback.status == "incorrect", repr(feedback)
    text = repr(feedback)
    assert COPIED in text, text
    if exercise != 8:  # a ratio may be right for several other datasets at once
        where = "the course's default dataset" if source == "default" else "another student's dataset"
        assert where in text, text


def test_a_genuine_mistake_is_not_called_copied(datasets, answers, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(datasets["default"][0].parent))
    wrong = dict(answers["ada"][1], center=answers["ada"][1]["center"] + 40)
    feedback = _check(1, wrong, datasets["ada"])
    assert feedback.status == "incorrect" and COPIED not in repr(feedback)


def test_exercise_3_cannot_tell_a_copied_function(datasets):
    # The answer of Exercise 3 is a function (sigma clipping by hand): it is the same for
    # every student, so a copy cannot be told from one's own work, on any dataset.
    for name in ("ada", "alan"):
        feedback = check.exercise_3(sigma_clip_by_hand=solutions.sigma_clip_by_hand,
                                    data_dir=datasets[name][0], namespace={})
        assert feedback.status == "correct", repr(feedback)


def test_a_correct_answer_on_another_students_frames_is_not_accepted(datasets, answers, monkeypatch):
    # Alan's notebook loaded Ada's folder (data_dir = her dataset): right for her frames, not his.
    monkeypatch.setenv(STUDENT_ENV, IDENTITIES["alan"])
    namespace = {**answers["ada"][1], "data_dir": datasets["ada"][0]}
    feedback = check.exercise_1(namespace=namespace)
    assert feedback.status == "incorrect" and COPIED in repr(feedback)
    assert datasets["ada"][0].name in repr(feedback)
    # On his own frames the same check is correct.
    own = {**answers["alan"][1], "data_dir": datasets["alan"][0]}
    assert check.exercise_1(namespace=own).status == "correct"
    # Photon transfer (ptc_dir) and science frames (science_root) alike.
    ptc = {**answers["ada"][9], "ptc_dir": datasets["ada"][0]}
    assert check.exercise_9(namespace=ptc).status == "incorrect"
    science = {**answers["ada"][7], "science_root": datasets["ada"][1]}
    assert COPIED in repr(check.exercise_7(namespace=science))


@pytest.mark.parametrize("exercise", (1, 2, 4, 5, 6))
def test_every_correct_answer_of_another_dataset_is_called_copied(exercise, datasets, monkeypatch):
    # An image answer is compared with the other datasets' references on a grid of pixels,
    # and Exercise 1's centre with theirs, before the whole check runs again: each correct
    # style of the corpus, made on Ada's frames, must still be recognized as hers when Alan
    # checks it.
    monkeypatch.setenv("COURSE_CACHE_DIR", str(datasets["default"][0].parent))
    ada = Data(datasets["ada"][0])
    function = getattr(check, f"exercise_{exercise}")
    for name, build, status, _ in CORPUS[exercise]:
        if status == "correct":
            feedback = function(**build(ada), data_dir=datasets["alan"][0], namespace={})
            assert feedback.status == "incorrect" and COPIED in repr(feedback), f"{name}: {feedback!r}"
            assert "another student's dataset" in repr(feedback), f"{name}: {feedback!r}"


@pytest.mark.parametrize("exercise", (1, 2, 4, 5, 6))
def test_no_mistake_made_on_ones_own_frames_is_called_copied(exercise, datasets, monkeypatch):
    # A genuine mistake made on one's own frames resembles no other dataset more than one's own.
    monkeypatch.setenv("COURSE_CACHE_DIR", str(datasets["default"][0].parent))
    alan = Data(datasets["alan"][0])
    function = getattr(check, f"exercise_{exercise}")
    for name, build, status, _ in CORPUS[exercise]:
        if status == "incorrect":
            feedback = function(**build(alan), data_dir=alan.root, namespace={})
            assert feedback.status == "incorrect" and COPIED not in repr(feedback), f"{name}: {feedback!r}"
