"""The product's asset page of the real code location, as an operator opens it in the web UI.

dagster-webserver serves the repository's own code location (``workspace.yaml``:
``orchestration.definitions``) on a local-profile instance into which one synthetic product day
(the products tests' stub upstream values) is materialized with the real product assets and the
skill check. Headless Chromium, driven over the DevTools protocol as an operator clicks, opens
``product_verification``'s page, shows the day's map and verification scatter (the
``[Show Markdown]`` dialogs of their metadata entries) and the Checks tab. The images must be
loaded PNGs with a natural size, the check's status must be on the page, and the map must be the
product's: coastline drawn, gauges filled with their value on the field's colour scale.
Screenshots of the page (map dialog open), of the checks and of the day's map file are saved in
the test's folder and their paths printed.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bench.services import (
    BIN,
    PROJECT_ROOT,
    dagster_home,
    free_port,
    start_process,
    stop_process,
    tail,
    wait_until,
)
from tests.integration.test_ops_webui import CHROMIUM_FLAGS, graphql

pytestmark = pytest.mark.integration

DAY = "2009-05-21"  # the synthetic product day (a partition of tests/rainfuse-test.yaml)
PAGE = "/assets/product_verification"
IMAGES = ("map", "verification_scatter")
DARK_ORANGE = np.array([1.0, 140 / 255, 0.0])  # the radar's range ring on the map

QUERY = """
query ProductPage($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      groupName
      assetChecksOrError { ... on AssetChecks { checks { name
        executionForLatestMaterialization { status evaluation { success } } } } }
    }
  }
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(limit: 1) { partition metadataEntries {
      label ... on MarkdownMetadataEntry { mdStr } } } }
  }
}
"""

# The metadata table row labelled NAME: click its "[Show Markdown]" (the image opens in a dialog).
OPEN_ENTRY = """(() => { for (const row of document.querySelectorAll('tr')) {
  const cells = row.querySelectorAll('td');
  if (cells.length > 1 && cells[0].textContent.trim() === NAME) {
    const link = [...row.querySelectorAll('a')].find(a => a.textContent.includes('Show Markdown'));
    if (link) { link.click(); return true; } } } return false; })()"""
# The image with alt NAME once loaded and faded in: natural size, source and place on the page.
LOADED_IMAGE = """(() => { const img = document.querySelector(SELECTOR);
  if (!img || !img.complete || img.naturalWidth === 0) return null;
  for (let node = img; node; node = node.parentElement) {
    if (getComputedStyle(node).opacity !== '1') return null; }
  const r = img.getBoundingClientRect();
  return {width: img.naturalWidth, height: img.naturalHeight, src: img.src,
          clip: {x: r.x, y: r.y, width: r.width, height: r.height, scale: 1}}; })()"""
# The Checks tab once the check's status is rendered (in the list and as the evaluation result).
CHECK_STATUS = r"""(() => { const text = document.body.innerText;
  const listed = /fused_product_skill\s+(Succeeded|Failed|Warning|Errored|Skipped)/.exec(text);
  const result = /Evaluation result\s+(Passed|Failed|Warning|Errored|Skipped)/.exec(text);
  return listed && result ? [listed[1], result[1]] : null; })()"""


class DevTools:
    """One headless Chromium page driven over the DevTools protocol (a websocket)."""

    def __init__(self, binary: str, timeout_s: float = 60.0):
        import websocket

        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]
        self.profile = tempfile.mkdtemp(prefix="rainfuse-devtools-")
        self.process = subprocess.Popen(
            [binary, *flags, f"--user-data-dir={self.profile}", "--remote-debugging-port=0"]
            + ["about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(self.profile) / "DevToolsActivePort"  # Chromium writes its port here
            wait_until(
                lambda: port_file.is_file() and port_file.read_text().strip(),
                timeout_s,
                "Chromium's DevTools port",
                process=self.process,
            )
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.loads(r.read()) if t["type"] == "page")
            self.socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=timeout_s, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise
        self.last_id = 0

    def call(self, method: str, **params) -> dict:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:  # events arrive in between: skip them
            message = json.loads(self.socket.recv())
            if message.get("id") == self.last_id:
                assert "error" not in message, (method, message["error"])
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout_s: float = 90.0):
        """Evaluate ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)
        return value

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def screenshot(self, path: Path, clip: dict | None = None) -> Path:
        params = {"format": "png", **({"clip": clip} if clip else {})}
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        return path

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def materialize_product_day(folder: Path, instance) -> dict:
    """The product assets and the skill check for the synthetic day, into ``instance``."""
    from dagster import materialize

    from assets import products
    from orchestration.runtime.io_managers import UniversalIOManager
    from orchestration.runtime.resources import (
        ArchiveResource,
        DomainResource,
        ProductStoreResource,
    )
    from tests.products.conftest import make_synthetic_day
    from tests.products.test_prod_assets import _stubs

    s = make_synthetic_day()
    truth_dir = folder / "truth" / "2009" / "05" / "21"
    truth_dir.mkdir(parents=True)
    xr.Dataset(
        {"rain_daily_mm": (("lat", "lon"), s.truth_daily_mm)}, coords={"lat": s.lat, "lon": s.lon}
    ).to_netcdf(truth_dir / "truth_rain_20090521.nc")
    resources = {
        "domain": DomainResource(
            name="test",
            lat_min_deg=27.60,
            lat_max_deg=28.60,
            lon_min_deg=-81.20,
            lon_max_deg=-80.10,
            grid_spacing_deg=0.02,
        ),
        "product_store": ProductStoreResource(url=str(folder / "products")),
        "truth_archive": ArchiveResource(url=str(folder / "truth")),
        "io_manager": UniversalIOManager(base_url=str(folder / "storage")),
    }
    assets = [
        *_stubs(s),
        products.fused_rain_hourly,
        products.fused_rain_daily,
        products.product_verification,
        products.fused_product_skill,
        products.rain_product_map,
    ]
    result = materialize(assets, partition_key=DAY, resources=resources, instance=instance)
    assert result.success
    return {
        "gauge_hourly": s.gauge_hourly,
        "map_file": Path(result.output_for_node("rain_product_map")["png"]),
        "daily": result.output_for_node("fused_rain_daily"),
        "hourly_attrs": dict(result.output_for_node("fused_rain_hourly").attrs),
    }


@pytest.fixture(scope="module")
def product_page(tmp_path_factory):
    """The real code location served on an instance holding one product day; yields its facts.

    The webserver starts first: it loads the code location while the day is materialized (the
    instance's SQLite storages are made before, so that the two processes never race to make them).
    """
    from dagster import AssetKey, DagsterInstance

    folder = tmp_path_factory.mktemp("ui_product_page")
    home = dagster_home(folder, "local")
    instance = DagsterInstance.from_config(str(home))
    instance.get_runs(limit=1)
    instance.fetch_materializations(AssetKey("product_verification"), limit=1)
    instance.all_instigator_state()
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RAINFUSE_CONFIG": os.environ["RAINFUSE_CONFIG"],  # tests/rainfuse-test.yaml
    }
    server = start_process(
        [
            str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
            "-w", str(PROJECT_ROOT / "workspace.yaml"),
        ],
        env,
        folder / "webserver.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        day = materialize_product_day(folder, instance)
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/server_info", timeout=2).status == 200,
            120,
            "dagster-webserver",
            process=server,
        )
        key = {"path": ["product_verification"]}
        wait_until(
            lambda: graphql(url, QUERY, {"key": key})["assetNodeOrError"].get("groupName"),
            180,
            "the rainfuse code location in the webserver",
            interval_s=0.5,
            process=server,
        )
        yield {"url": url, "folder": folder, **day}
    except Exception as error:
        raise RuntimeError(f"{error}\n--- webserver log ---\n{tail(server.log_path)}") from error
    finally:
        stop_process(server)
        instance.dispose()


def orange_pixels(png: Path) -> int:
    """Pixels of the range ring's dark orange in a capture."""
    from matplotlib import image

    rgb = image.imread(str(png))[..., :3]
    return int((np.abs(rgb - DARK_ORANGE).max(axis=-1) < 0.08).sum())


def test_product_page_shows_map_scatter_and_check(product_page, chromium_binary):
    from fusion_ops.products import adapters, plots

    url, folder = product_page["url"], product_page["folder"]
    # The API first: the real location's asset, its check and the two images of the day.
    data = graphql(url, QUERY, {"key": {"path": ["product_verification"]}})
    assert data["assetNodeOrError"]["groupName"] == "products"
    (check,) = data["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert check["name"] == "fused_product_skill"
    assert check["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
    (materialization,) = data["assetOrError"]["assetMaterializations"]
    assert materialization["partition"] == DAY
    md = {e["label"]: e.get("mdStr") for e in materialization["metadataEntries"]}
    for name in IMAGES:
        assert md[name].startswith(f"![{name}](data:image/png;base64,")

    # The page in Chromium, as an operator opens it.
    browser = DevTools(chromium_binary)
    try:
        browser.navigate(url + PAGE)
        loaded = {}
        for name in IMAGES:
            browser.wait_for(OPEN_ENTRY.replace("NAME", json.dumps(name)), f"{name} entry")
            selector = json.dumps(f'img[alt="{name}"]')
            loaded[name] = browser.wait_for(
                LOADED_IMAGE.replace("SELECTOR", selector), f"{name} image loaded", 30
            )
            if name == "map":
                page_shot = browser.screenshot(folder / "product_page_map.png")
            browser.call(
                "Input.dispatchKeyEvent",
                type="keyDown",
                key="Escape",
                code="Escape",
                windowsVirtualKeyCode=27,
            )
            browser.wait_for(f"!document.querySelector({selector})", f"{name} dialog closed", 10)
        browser.navigate(url + PAGE + "?view=checks")
        check_status = browser.wait_for(CHECK_STATUS, "the check's status")
        checks_shot = browser.screenshot(folder / "product_page_checks.png")
        browser.navigate(product_page["map_file"].as_uri())
        shown = browser.wait_for(
            LOADED_IMAGE.replace("SELECTOR", json.dumps("img")), "the map file", 30
        )
        map_shot = browser.screenshot(folder / "product_map.png", clip=shown["clip"])
    finally:
        browser.close()
    print(
        f"\nasset page with the map: {page_shot}\nchecks tab: {checks_shot}\nday's map: {map_shot}"
    )

    # Both images are in the DOM: loaded, with a natural size, and they are the metadata's PNGs.
    for name in IMAGES:
        assert loaded[name]["width"] > 200 and loaded[name]["height"] > 200, loaded[name]
        assert md[name] == f"![{name}]({loaded[name]['src']})"
    assert check_status == ["Succeeded", "Passed"]

    # The map shown is the product's: coastline drawn, gauges on the field's colour scale.
    gauges, withheld = adapters.withheld_gauge_days(
        product_page["hourly_attrs"], product_page["gauge_hourly"], DAY
    )
    drawn = plots.product_map(
        product_page["daily"], gauges, withheld, DAY, radar=plots.scenario_radar_overlay()
    )
    page_png = base64.b64decode(loaded["map"]["src"].split(",", 1)[1])
    assert drawn.png(plots.PAGE_DPI) == page_png
    assert drawn.png(plots.MAP_DPI) == product_page["map_file"].read_bytes()
    assert drawn.coastline_segments > 0 and drawn.range_ring is not None
    for key in ("adjusting", "withheld"):
        values = drawn.gauge_values_mm[key]
        faces = drawn.gauges[key].to_rgba(drawn.gauges[key].get_array())
        np.testing.assert_allclose(faces, drawn.cmap(drawn.norm(values)))
        assert values.size and not np.allclose(faces[values > 1.0, :3], 1.0)  # not white
    assert drawn.gauge_values_mm["withheld"].size == int(withheld.sum())

    # The captures show the map: the range ring's orange on the page's dialog and in the file's.
    assert page_shot.stat().st_size > 10_000 and map_shot.stat().st_size > 10_000
    assert orange_pixels(page_shot) > 100 and orange_pixels(map_shot) > 200
