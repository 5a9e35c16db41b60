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

Modules: :mod:`~course_utils.data.locate` (``dataset_dir``, ``work_dir``),
:mod:`~course_utils.data.synthetic` (the generator),
:mod:`~course_utils.data.manifest` (the data manifest),
:mod:`~course_utils.data.fetch` (verified downloads of the real frames),
:mod:`~course_utils.data.marker` (the completeness marker), and the
command line ``python -m course_utils.data --help``.

Examples
--------
>>> from course_utils.data import dataset_dir, work_dir
>>> callable(dataset_dir) and callable(work_dir)
True
"""

from .locate import cache_dir, dataset_dir, work_dir

__all__ = ["dataset_dir", "work_dir", "cache_dir"]
