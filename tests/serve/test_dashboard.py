"""docs/grafana-wscli.json and docs/prometheus.yml against a real `wscli serve` (with Redis and
--metrics-rooms, under a workload): every metric the dashboard queries is in the exposition
(read by prometheus-client's parser), and a real Prometheus, configured from the docs'
example, scrapes the server with its token and answers every query of the dashboard."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.support import REPO, requires, scaled
from tests.support.redis_process import RedisServer
from tests.support.serve_process import ServeProcess, free_port

DASHBOARD = REPO / "docs" / "grafana-wscli.json"
SCRAPE_EXAMPLE = REPO / "docs" / "prometheus.yml"
TOKEN = "m3tr1cs"


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def concrete(query: str) -> str:
    """A dashboard query with Grafana's variables filled in, for Prometheus itself."""
    return query.replace("$instance", ".*").replace("$__rate_interval", "1m")


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def serving(redis: RedisServer) -> Iterator[ServeProcess]:
    args = ("--redis", redis.url, "--metrics-rooms", "5", "--metrics-token", TOKEN)
    with ServeProcess(*args) as server:
        yield server


async def workload(server: ServeProcess, seconds: float) -> None:
    """Clients come, talk and go for ``seconds``; one is refused (a foreign origin)."""
    with pytest.raises(Exception, match="403"):
        await connect(server.ws_url("/x"), proxy=None, origin="https://evil.example")  # type: ignore[arg-type]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with connect(server.ws_url("/lobby"), proxy=None, open_timeout=scaled(10)) as ws:
            for _ in range(20):
                await ws.send("hello")
                await asyncio.wait_for(ws.recv(), scaled(10))
        await asyncio.sleep(0.1)


def staying(server: ServeProcess) -> Any:
    """A client that stays in /lobby: the room, with its traffic, lives between visits."""
    return connect(server.ws_url("/lobby"), proxy=None, open_timeout=scaled(10))


def scrape(server: ServeProcess) -> set[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=scaled(5)) as answer:
        text = answer.read().decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


@requires("redis-server")
async def test_every_metric_the_dashboard_queries_exists(serving: ServeProcess) -> None:
    async with staying(serving):
        await workload(serving, 0.5)
        present = scrape(serving)
    wanted = {name for query in dashboard_queries() for name in re.findall(r"wscli_\w+", query)}
    assert len(wanted) >= 25
    assert wanted - present == set()


def prometheus_config(tmp_path: Path, target: str) -> Path:
    """docs/prometheus.yml pointed at ``target``, scraping every second, its token file
    written; nothing else changed."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    text = SCRAPE_EXAMPLE.read_text()
    text = text.replace("scrape_interval: 15s", "scrape_interval: 1s")
    text = text.replace("/etc/prometheus/wscli-metrics-token", str(token_file))
    text = text.replace("chat-1.example.com:3000", target)
    text = "\n".join(line for line in text.splitlines() if "chat-2.example.com" not in line)
    config = tmp_path / "prometheus.yml"
    config.write_text(text + "\n")
    return config


def query(port: int, expr: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=scaled(5)) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


@requires("redis-server", "prometheus", "promtool")
async def test_real_prometheus_scrapes_with_the_example_and_answers_every_query(
    serving: ServeProcess, tmp_path: Path
) -> None:
    check = subprocess.run(
        ["promtool", "check", "config", str(prometheus_config(tmp_path, "x:1"))],
        capture_output=True,
        timeout=scaled(30),
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    config = prometheus_config(tmp_path, f"127.0.0.1:{serving.port}")
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with staying(serving):
            await asked_everything(serving, port, tmp_path)
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        log.close()


async def asked_everything(serving: ServeProcess, port: int, tmp_path: Path) -> None:
    """Prometheus (at ``port``) scraped the server and answers every dashboard query."""
    # Traffic while Prometheus starts and scrapes a few times (rates need two samples).
    await workload(serving, scaled(6))
    deadline = time.monotonic() + scaled(30)
    while True:
        try:
            up = query(port, 'up{job="wscli"}')["data"]["result"]
            if up and up[0]["value"][1] == "1":
                samples = query(port, "count(wscli_messages_sent_total)")["data"]["result"]
                if samples and len(query(port, "wscli_clients[10s]")["data"]["result"]):
                    break
        except OSError:
            pass  # not listening yet
        assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
        await asyncio.sleep(0.5)
    await workload(serving, scaled(3))
    empty = []
    for expr in dashboard_queries():
        if expr.startswith("label_values("):
            metric = expr.split("(", 1)[1].split(",", 1)[0]
            expr = f"count by (instance) ({metric})"
        answer = query(port, concrete(expr))
        assert answer["status"] == "success", (expr, answer)
        if not answer["data"]["result"]:
            empty.append(expr)
    assert empty == []
