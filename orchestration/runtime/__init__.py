"""The shared Dagster runtime that assets import: configuration, resources, IO manager, partitions, tags.

Nothing here imports :mod:`assets` or the wiring above it (definitions, jobs, schedules, sensors,
executors, CLI); ``make lint`` checks it with import-linter.
"""
