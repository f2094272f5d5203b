"""Celery queue priority of the critical-path steps follows the broker's direction."""

from __future__ import annotations


def test_critical_path_tags_follow_the_broker(monkeypatch) -> None:
    from orchestration.runtime.tags import CELERY_PRIORITY_TAG, critical_path_op_tags

    # kombu's Redis transport serves 0 first; AMQP brokers serve the highest first
    assert critical_path_op_tags("redis://127.0.0.1:6379/0") == {CELERY_PRIORITY_TAG: "0"}
    assert critical_path_op_tags("amqp://guest@rabbit//") == {CELERY_PRIORITY_TAG: "9"}
    monkeypatch.setenv("RAINFUSE_CELERY_BROKER", "pyamqp://rabbit//")
    assert critical_path_op_tags() == {CELERY_PRIORITY_TAG: "9"}


def test_radar_chain_heads_carry_the_tag() -> None:
    from assets import ingest
    from orchestration.runtime.tags import CELERY_PRIORITY_TAG

    # satellite_features feeds MLP-3 on the chain, and is the only long step ready at the start
    for assets_def in (ingest.gauge_observations, ingest.gauge_hourly, ingest.satellite_features):
        assert assets_def.op.tags.get(CELERY_PRIORITY_TAG) in ("0", "9")
    # every step of the ground radar's graph: each block, the join
    graph = ingest.build_ground_radar_assets(2).node_def
    assert {n.name for n in graph.nodes} == {
        *(f"ingest_ground_radar_block_{i}" for i in range(2)),
        "join_ground_radar_blocks",
    }
    for node in graph.nodes:
        assert node.definition.tags.get(CELERY_PRIORITY_TAG) in ("0", "9")
    assert CELERY_PRIORITY_TAG not in (ingest.satellite_native_scene.op.tags or {})
