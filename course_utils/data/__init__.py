"""The course dataset: where the calibration frames are, and where products go.

Notebooks start with::

    from course_utils.data import dataset_dir, work_dir
    data_dir = dataset_dir()   # the folder that contains calibration_frames/
    out = work_dir()           # a writable folder for master frames

``dataset_dir()`` uses, in this order: the folder in ``COURSE_DATA_DIR``; a
complete dataset already in the cache (the real Magellan frames if they were
downloaded, else the synthetic dataset); a download of the real frames when
asked (``source="magellan"``); otherwise it generates the synthetic dataset,
which needs no network. It prints one line saying which data is used.

With ``COURSE_STUDENT`` set, or ``course_utils.use_student(identity)`` called,
each student gets a synthetic dataset of their own
(:mod:`~course_utils.data.students`: identity -> seed;
:mod:`~course_utils.data.variation`: the table of what varies), in folders of
their own in the cache; without one, the course's default dataset.

The frames are read-only (write products into ``work_dir()``); a damaged
file of a cached dataset is made again; concurrent first calls wait for one
another (a file lock) and use the one dataset made.

Modules, from the command line down (imports run one way, no cycle):
``__main__`` (``python -m course_utils.data --help``) ->
:mod:`~course_utils.data.locate` (``dataset_dir``, ``work_dir``,
``dataset_dir_for``) -> :mod:`~course_utils.data.science` (notebook 5's
science frames, in a folder of their own) ->
:mod:`~course_utils.data.synthetic` (the generator, with
:mod:`~course_utils.data.ptc` for the synthetic-only photon transfer
sequence) and :mod:`~course_utils.data.fetch` (verified downloads of the
real frames, through pooch) -> :mod:`~course_utils.data.store` (a dataset
folder you can trust: the one module that claims, locks, writes, verifies,
repairs and tidies a dataset folder, and its marker) ->
:mod:`~course_utils.data.models`, :mod:`~course_utils.data.headers`,
:mod:`~course_utils.data.fitsfile`, :mod:`~course_utils.data.manifest`
(reading the data manifest), :mod:`~course_utils.data.students` (a student's
seed) -> :mod:`~course_utils.data.variation` (what each seed varies) ->
:mod:`~course_utils.data.layout` (the table
of frame groups: the one description of the files) and
:mod:`~course_utils.data.identity` (what a dataset is).

Examples
--------
>>> from course_utils.data import dataset_dir, work_dir
>>> callable(dataset_dir) and callable(work_dir)
True
"""

from .locate import cache_dir, dataset_dir, work_dir

__all__ = ["dataset_dir", "work_dir", "cache_dir"]
