"""The engines of :func:`course_utils.combine` (private).

The public module :mod:`course_utils.combining` validates the options,
turns the input into one canonical form (:mod:`course_utils._inputs`) and
hands it to one of two engines that compute the same results:

* :mod:`.numpy_engine`: tiles of pixels in numpy, clipped by :mod:`.clip`;
* :mod:`.numba_engine`: blocks of pixels in threads, on the compiled
  kernels of :mod:`.kernels` (imported only when first needed), handing the
  pixels they cannot decide to the numpy engine.

:mod:`.model` holds the one numerical model of "too close to call" used by
both; :mod:`.weighted` combines the kept values with ``weights=``;
:mod:`.frames` holds the frames as all of them read them; :mod:`.choice`
picks the engine; :mod:`.warmup` compiles kernels in a background process.
Imports go one way: choice -> warmup, numba_engine -> numpy_engine -> clip
-> model, kernels -> model, weighted -> the front door's ``as_numbers``,
everything -> frames; warmup imports numba_engine only inside the
background process's entry point.
"""
