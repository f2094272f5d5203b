"""The archive-arrival sensor (local folder and S3) and the run-failure alert (log + webhook)."""

import datetime as dt
import http.server
import json
import logging
import threading
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)

from orchestration.alerts import Alert, AlertDeliveryError, post_webhook, send_alert
from orchestration.runtime.resources import (
    ArchiveResource,
    RadarArchiveResource,
    SatelliteArchiveResource,
)
from orchestration.sensors import (
    GOES_WATCH,
    NEXRAD_WATCH,
    alert_for_failure,
    build_archive_sensor,
    run_failure_alert,
)

DAYS = DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")
NOW = dt.datetime(2024, 1, 11, 10, 0, tzinfo=dt.UTC)  # window: Jan 8, 9, 10


@asset(partitions_def=DAYS)
def arrived_day() -> dict:
    return {}


DAILY = define_asset_job("tiny_daily", selection=[arrived_day])


def nexrad_key(site: str, day: dt.date, hhmmss: str) -> str:
    return f"{day:%Y/%m/%d}/{site}/{site}{day:%Y%m%d}_{hhmmss}_V06"


def goes_key(day: dt.date, band: int = 13) -> str:
    doy = day.timetuple().tm_yday
    return (
        f"ABI-L1b-RadM/{day:%Y}/{doy:03d}/12/OR_ABI-L1b-RadM1-M6C{band:02d}_G16_"
        f"s{day:%Y}{doy:03d}1200000_e{day:%Y}{doy:03d}1200500_c{day:%Y}{doy:03d}1201000.nc"
    )


def _write(root: Path, key: str, size: int = 10) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _tick(sensor_def, resources: dict, cursor: str | None):
    defs = Definitions(assets=[arrived_day], jobs=[DAILY], sensors=[sensor_def])
    context = build_sensor_context(
        cursor=cursor, resources=resources, repository_def=defs.get_repository_def()
    )
    return sensor_def.evaluate_tick(context)


def _sensor():
    return build_archive_sensor(
        DAILY, DAYS, watches=(NEXRAD_WATCH, GOES_WATCH), lookback_days=3, now=lambda: NOW
    )


def test_archive_sensor_requests_days_whose_inputs_arrived(tmp_path):
    radar, goes = tmp_path / "nexrad", tmp_path / "goes"
    jan = [dt.date(2024, 1, d) for d in (8, 9, 10, 11)]
    _write(radar, nexrad_key("KMLB", jan[1], "000312"))
    _write(radar, nexrad_key("KMLB", jan[2], "000312"))
    _write(radar, nexrad_key("KTLH", jan[0], "000312"))  # another site: not watched
    _write(radar, nexrad_key("KMLB", jan[3], "000312"))  # today: not complete yet
    _write(goes, goes_key(jan[2]))
    resources = {
        "radar_archive": RadarArchiveResource(url=str(radar), sites=["KMLB"]),
        "satellite_archive": SatelliteArchiveResource(url=str(goes), platform="G16"),
    }
    sensor_def = _sensor()

    first = _tick(sensor_def, resources, None)
    assert [r.partition_key for r in first.run_requests] == ["2024-01-09", "2024-01-10"]
    assert first.run_requests[1].tags["rainfuse/input_files"] == "2"  # radar + ABI
    cursor = json.loads(first.cursor)["days"]
    assert sorted(cursor) == ["2024-01-09", "2024-01-10"]

    # nothing new: no request, the reason names the day still waiting for radar
    second = _tick(sensor_def, resources, first.cursor)
    assert second.run_requests == []
    assert "2024-01-08: waiting for radar_archive" in second.skip_message

    # a late volume for the 9th, and the first for the 8th: exactly those two days again
    _write(radar, nexrad_key("KMLB", jan[1], "235801"))
    _write(radar, nexrad_key("KMLB", jan[0], "120000"))
    third = _tick(sensor_def, resources, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2024-01-08", "2024-01-09"]
    assert third.run_requests[1].run_key != first.run_requests[0].run_key


def test_archive_sensor_reads_s3_through_the_archive_resource(s3_bucket):
    import s3fs

    bucket, options = s3_bucket
    fs = s3fs.S3FileSystem(**options)
    day = dt.date(2024, 1, 10)
    fs.pipe(f"{bucket}/nexrad/{nexrad_key('KMLB', day, '101500')}", b"AR2V0006." + b"\0" * 64)
    resources = {
        "radar_archive": RadarArchiveResource(
            url=f"s3://{bucket}/nexrad", storage_options=options, sites=["KMLB"]
        ),
        "satellite_archive": SatelliteArchiveResource(
            url=f"s3://{bucket}/goes", storage_options=options, platform="G16"
        ),
    }
    result = _tick(_sensor(), resources, None)
    assert [r.partition_key for r in result.run_requests] == ["2024-01-10"]
    assert result.run_requests[0].tags["rainfuse/input_files"] == "1"


def test_archive_sensor_ignores_an_unreadable_cursor(tmp_path):
    radar = tmp_path / "nexrad"
    _write(radar, nexrad_key("KMLB", dt.date(2024, 1, 10), "000312"))
    resources = {
        "radar_archive": RadarArchiveResource(url=str(radar), sites=["KMLB"]),
        "satellite_archive": SatelliteArchiveResource(url=str(tmp_path / "goes")),
    }
    result = _tick(_sensor(), resources, "not json")
    assert [r.partition_key for r in result.run_requests] == ["2024-01-10"]


@op
def failing_step():
    raise ValueError("radar volume KMLB20240110_000312_V06 is truncated")


@job
def fragile_job():
    failing_step()


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def webhook():
    """An HTTP receiver on 127.0.0.1 standing in for a chat webhook; yields its class and URL."""
    _Receiver.received = []
    _Receiver.status = 200
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Receiver, f"http://127.0.0.1:{server.server_port}/hooks/T000/SECRET"
    finally:
        server.shutdown()
        server.server_close()


def _failure_context(instance):
    result = fragile_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_run_failure_alert_posts_to_webhook(webhook, monkeypatch, caplog):
    receiver, url = webhook
    monkeypatch.setenv("RAINFUSE_ALERT_WEBHOOK", url)
    monkeypatch.setenv("RAINFUSE_UI_URL", "http://dagster.example:3000")
    with DagsterInstance.ephemeral() as instance:
        context = _failure_context(instance)
        alert = alert_for_failure(context)
        run_failure_alert(context)
    assert alert.job_name == "fragile_job"
    assert (
        alert.text == "failing_step: ValueError: radar volume KMLB20240110_000312_V06 is truncated"
    )
    (payload,) = receiver.received
    assert payload["run_id"] == context.dagster_run.run_id
    assert payload["text"].startswith("[rainfuse error] run of fragile_job failed: failing_step")
    assert payload["details"]["url"] == f"http://dagster.example:3000/runs/{payload['run_id']}"


def test_alert_without_webhook_goes_to_the_log(monkeypatch, caplog):
    monkeypatch.delenv("RAINFUSE_ALERT_WEBHOOK", raising=False)
    with caplog.at_level(logging.ERROR, logger="rainfuse.alerts"):
        delivered = send_alert(Alert(title="daily run failed", text="no radar for 2024-01-10"))
    assert delivered is False
    assert "[rainfuse error] daily run failed: no radar for 2024-01-10" in caplog.text


def test_refused_webhook_is_logged_without_the_secret(webhook, caplog):
    receiver, url = webhook
    receiver.status = 500
    with caplog.at_level(logging.INFO, logger="rainfuse.alerts"):
        delivered = send_alert(Alert(title="t", text="x"), url=url)
    assert delivered is False and len(receiver.received) == 1
    assert "answered HTTP 500" in caplog.text
    assert "SECRET" not in caplog.text  # the webhook path carries the token: never logged


def test_webhook_must_be_http():
    with pytest.raises(AlertDeliveryError, match="http"):
        post_webhook("file:///etc/passwd", Alert(title="t", text="x"))


def test_archive_resource_type_is_what_the_sensor_lists(tmp_path):
    # the sensor only needs the generic archive interface: a plain ArchiveResource works too
    root = tmp_path / "radar"
    _write(root, nexrad_key("KMLB", dt.date(2024, 1, 9), "000312"))
    resources = {
        "radar_archive": ArchiveResource(url=str(root)),
        "satellite_archive": ArchiveResource(url=str(tmp_path / "goes")),
    }
    result = _tick(_sensor(), resources, None)
    # without a site list every site counts
    assert [r.partition_key for r in result.run_requests] == ["2024-01-09"]


def test_default_watches_include_optional_spaceborne_granules(tmp_path):
    from orchestration.sensors import DEFAULT_WATCHES

    day = dt.date(2024, 1, 10)
    radar, gpm = tmp_path / "nexrad", tmp_path / "gpm"
    _write(radar, nexrad_key("KMLB", day, "000312"))
    _write(
        gpm,
        f"{day:%Y/%m/%d}/radar/2A.GPM.DPR.V9-20211125.{day:%Y%m%d}-S101500-E114730.055000.V07A.HDF5",
    )
    resources = {
        "radar_archive": RadarArchiveResource(url=str(radar), sites=["KMLB"]),
        "satellite_archive": SatelliteArchiveResource(url=str(tmp_path / "goes")),
        "spaceborne_archive": ArchiveResource(url=str(gpm)),
    }
    sensor_def = build_archive_sensor(
        DAILY, DAYS, DEFAULT_WATCHES, lookback_days=3, now=lambda: NOW
    )
    (request,) = _tick(sensor_def, resources, None).run_requests
    assert request.partition_key == "2024-01-10"
    assert request.tags["rainfuse/input_files"] == "2"  # radar volume + GPM granule
