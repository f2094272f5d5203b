"""The web UI an operator trusts: dagster-webserver, headless Chromium and the GraphQL API.

Three partitions of the tiny code location are materialized into a local-profile instance, the
webserver is started on it, the test asserts on GraphQL data (asset keys, groups, materialized
partitions) and loads the asset graph and one asset's partitions page in headless Chromium, whose
rendered DOM must name the assets and whose screenshots are kept under ``artifacts/ui/``.
"""

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from bench.services import (
    BIN,
    PROJECT_ROOT,
    dagster_home,
    free_port,
    start_process,
    stop_process,
    tail,
    wait_until,
    write_workspace,
)

pytestmark = pytest.mark.integration

LOCATION_FILE = Path(__file__).with_name("ops_location.py")

MATERIALIZED = ("2024-01-03", "2024-01-04", "2024-01-05")
ASSETS = {"ops_ingest": "ingest", "ops_gpu_fit": "calibration", "ops_product": "products"}
ARTIFACTS = PROJECT_ROOT / "artifacts" / "ui"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
    "--window-size=1600,1000",
    # let the single-page app fetch its GraphQL data and render before the capture
    "--virtual-time-budget=20000",
]

QUERY = """
query OpsUi($key: AssetKeyInput!) {
  assetNodes { assetKey { path } groupName }
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { partitionStats { numMaterialized numPartitions numFailed } }
  }
}
"""


def graphql(url: str, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload.get("errors")
    return payload["data"]


def chromium(binary: str, url: str, *action: str, timeout_s: float = 90) -> str:
    """Run headless Chromium on ``url`` with a fresh profile; returns stdout (the DOM for dump)."""
    profile = tempfile.mkdtemp(prefix="rainfuse-chromium-")
    try:
        result = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            start_new_session=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """Materialize three partitions into a local-profile instance, serve it; yield the URL."""
    from dagster import DagsterInstance, materialize
    from ops_location import ops_gpu_fit, ops_ingest, ops_product

    from orchestration.runtime.io_managers import UniversalIOManager

    folder = tmp_path_factory.mktemp("ops_webui")
    home = dagster_home(folder, "local")
    storage = folder / "storage"
    with DagsterInstance.from_config(str(home)) as instance:
        for day in MATERIALIZED:
            result = materialize(
                [ops_ingest, ops_gpu_fit, ops_product],
                partition_key=day,
                instance=instance,
                resources={"io_manager": UniversalIOManager(base_url=str(storage))},
            )
            assert result.success
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RAINFUSE_OPS_STORAGE": str(storage),
        "PYTHONPATH": os.pathsep.join([str(LOCATION_FILE.parent), str(PROJECT_ROOT)]),
    }
    server = start_process(
        [
            str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
            "-w", str(write_workspace(folder, LOCATION_FILE, "rainfuse_ops")),
        ],
        env,
        folder / "webserver.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/server_info", timeout=2).status == 200,
            120,
            "dagster-webserver",
            process=server,
        )
        # the code location is loaded in a subprocess: wait until it serves the assets
        wait_until(
            lambda: len(graphql(url, QUERY, {"key": {"path": ["ops_gpu_fit"]}})["assetNodes"]),
            120,
            "code location in the webserver",
            interval_s=1.0,
            process=server,
        )
        yield url
    except Exception as error:
        raise RuntimeError(f"{error}\n--- webserver log ---\n{tail(server.log_path)}") from error
    finally:
        stop_process(server)


def test_graphql_reports_assets_and_materialized_partitions(webserver):
    data = graphql(webserver, QUERY, {"key": {"path": ["ops_gpu_fit"]}})
    groups = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in data["assetNodes"]}
    assert groups == ASSETS
    stats = data["assetNodeOrError"]["partitionStats"]
    assert stats == {"numMaterialized": len(MATERIALIZED), "numPartitions": 31, "numFailed": 0}


@pytest.mark.parametrize(
    ("page", "path", "expected_text"),
    [
        (
            "asset_graph",
            "/assets/ops_gpu_fit?view=lineage",
            ("ops_ingest", "ops_gpu_fit", "ops_product"),
        ),
        (
            "partitions",
            "/assets/ops_gpu_fit?view=partitions",
            ("ops_gpu_fit", "Materialized (3)", "Missing (28)"),
        ),
    ],
)
def test_pages_render_in_headless_chromium(webserver, chromium_binary, page, path, expected_text):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{page}.png"
    shot.unlink(missing_ok=True)
    chromium(chromium_binary, webserver + path, f"--screenshot={shot}")
    dom = chromium(chromium_binary, webserver + path, "--dump-dom")
    (ARTIFACTS / f"{page}.html").write_text(dom)
    for text in expected_text:
        assert text in dom, f"{page}: {text!r} not rendered (see {shot})"
    # a real capture of the whole window, not an empty file
    assert shot.stat().st_size > 10_000
    assert Path(shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
