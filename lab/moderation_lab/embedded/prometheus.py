"""An embedded Prometheus server (Debian's ``prometheus`` package) for the integration tests:
it scrapes workers on loopback and evaluates the alert rules, as in production.

Example::

    with EmbeddedPrometheus(workdir, targets=["127.0.0.1:6066"], rules=rules_yaml) as prom:
        prom.alerts()          # [{"labels": {"alertname": ...}, "state": "pending", ...}]
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from moderation_lab.embedded.ports import LOOPBACK
from moderation_lab.embedded.service import LocalService
from moderation_lab.errors import ServiceError

__all__ = ["EmbeddedPrometheus"]

_INSTALL_HINT = "install it with: apt-get install prometheus (or make prometheus)"


def _get_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        return json.loads(answer.read())


class EmbeddedPrometheus(LocalService):
    """A ``prometheus`` child process scraping ``targets`` every ``interval_s``.

    ``rules``: the text of a rule file (e.g. ``deploy/prometheus/alerts.yml`` with short
    ``for:`` durations), evaluated at the same interval. Data lives in ``workdir``.
    """

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        *,
        targets: list[str],
        rules: str | None = None,
        job: str = "moderation-worker",
        interval_s: float = 1.0,
        start_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(workdir, start_timeout_s=start_timeout_s, stop_timeout_s=10.0)
        self.targets = targets
        self.rules = rules
        self.job = job
        self.interval = f"{int(interval_s * 1000)}ms"

    def _write_config(self) -> Path:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}],
        }
        if self.rules is not None:
            (self.workdir / "rules.yml").write_text(self.rules)
            config["rule_files"] = ["rules.yml"]
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _argv(self, port: int) -> list[str]:
        binary = shutil.which("prometheus")
        if binary is None:
            raise ServiceError(f"prometheus is not on PATH; {_INSTALL_HINT}")
        return [
            binary,
            f"--config.file={self._write_config()}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ]

    def _answers(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/-/ready", timeout=0.5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _url(self, port: int) -> str:
        return f"http://{LOOPBACK}:{port}"

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now (``/api/v1/alerts``)."""
        body = _get_json(f"{self.url}/api/v1/alerts")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        body = _get_json(f"{self.url}/api/v1/query?{urlencode({'query': promql})}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result
