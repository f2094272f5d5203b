"""rainfuse's benchmarks: part of a source checkout, not of the installed distribution.

Run them from the repository root, ``rainfuse bench {ingest,imagery,all}`` or
``python -m bench.<module>`` (``all``, ``ingest``, ``imagery``, ``radar_day``, ``celery_scale``,
``models``, ``window_training``). They use ``fusion_ops`` and the public APIs of ``assets`` and
``orchestration``; :mod:`bench.services` also starts the real services of the integration tests.
"""
