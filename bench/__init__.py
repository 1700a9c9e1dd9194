"""whisperd's benchmark against the reference design (``make bench``, ``python -m bench``).

:mod:`bench.cli` runs it; :mod:`bench.reference_server` is the faithful re-implementation of the
reference design; :mod:`bench.corpus` builds the audio with its exact texts; :mod:`bench.inprocess` is
the in-process floor; :mod:`bench.report` draws the table. Results land in ``bench/results/``.
"""
