"""Alerts for operators: a log line always, and a JSON POST to a webhook when one is configured.

The webhook URL comes from ``RAINFUSE_ALERT_WEBHOOK`` (Slack/Teams/Mattermost incoming webhooks and
generic HTTP receivers all accept a JSON body with a ``text`` field). The URL is a secret (it embeds a
token), so it is never logged: only its host is.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field

LOGGER = logging.getLogger("rainfuse.alerts")
WEBHOOK_ENV = "RAINFUSE_ALERT_WEBHOOK"
WEBHOOK_TIMEOUT_S = 10.0


class AlertDeliveryError(RuntimeError):
    """The webhook refused the alert or could not be reached (the message names the host)."""


@dataclass(frozen=True)
class Alert:
    """One operator alert: what failed, where, and a link into the web UI when known."""

    title: str
    text: str
    severity: str = "error"
    run_id: str | None = None
    job_name: str | None = None
    partition_key: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def as_payload(self) -> dict[str, object]:
        """JSON body: ``text`` for chat webhooks, every field for generic receivers."""
        fields = asdict(self)
        fields["message"] = fields.pop("text")
        return {"text": f"[rainfuse {self.severity}] {self.title}: {self.text}", **fields}


def webhook_url() -> str | None:
    """The configured webhook, or None (alerts then go to the log only)."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    return url or None


def _host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or "<no host>"


def post_webhook(url: str, alert: Alert, timeout_s: float = WEBHOOK_TIMEOUT_S) -> int:
    """POST ``alert`` as JSON to ``url``; returns the HTTP status.

    Raises
    ------
    AlertDeliveryError
        When the receiver answers with an error status or cannot be reached.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise AlertDeliveryError(f"alert webhook must be an http(s) URL (host {_host_of(url)})")
    body = json.dumps(alert.as_payload()).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise AlertDeliveryError(
            f"alert webhook at {_host_of(url)} answered HTTP {error.code}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise AlertDeliveryError(
            f"alert webhook at {_host_of(url)} unreachable: {reason}"
        ) from None


def send_alert(alert: Alert, url: str | None = None, logger: logging.Logger | None = None) -> bool:
    """Log ``alert`` and, when a webhook is configured, post it there.

    A webhook failure is logged, never raised: an alert path that crashes would hide the original
    failure. Returns True when the webhook accepted the alert (False when none is configured or
    delivery failed).
    """
    log = logger or LOGGER
    log.error("%s", alert.as_payload()["text"])
    target = url if url is not None else webhook_url()
    if not target:
        return False
    try:
        status = post_webhook(target, alert)
    except AlertDeliveryError as error:
        log.error("alert not delivered: %s", error)
        return False
    log.info("alert delivered to %s (HTTP %d)", _host_of(target), status)
    return True
