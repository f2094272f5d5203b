"""Partitions: one per UTC day from the configured start date."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from orchestration.runtime.config import load_config

daily_partitions = DailyPartitionsDefinition(
    start_date=load_config().partitions.start_date.isoformat(), timezone="UTC"
)
