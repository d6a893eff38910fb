"""The local web app (credsim.web): the API in-process, a bounded load test against a real
server on 127.0.0.1, and the page end to end in Debian's headless Chromium.

Runs are small (at most 3,000 people for 30 days). Figures of the load test and the
screenshots go to tests/artifacts/ and are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from typer.testing import CliRunner

import credsim.web
from credsim.report.headline import group_sentences, run_line
from credsim.scenario import load_scenario
from credsim.web import cli as web_cli
from credsim.web import create_app
from credsim.web.cli import is_loopback
from credsim.web.params import MAX_WEB_POPULATION, RequestError, check_run_request, parameters_for

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older Starlette test setups use httpx
    import httpx

SMALL = {"population.size": 3000, "population.days": 30}
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_for(client, job_id: str, timeout: float = 60.0) -> tuple[dict, list[dict]]:
    """Poll a run until it is finished; return its last status and every status seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/runs/{job_id}").json()
        seen.append(status)
        if status["state"] in ("done", "failed", "cancelled"):
            return status, seen
        time.sleep(0.05)
    raise AssertionError(f"run {job_id} did not finish in {timeout} s; last status {seen[-1]}")


def run_files(data_dir: Path, job_id: str) -> tuple[dict, dict]:
    """summary.json and scenario.toml of a finished run, read from its folder."""
    folder = data_dir / "runs" / job_id
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    scenario = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    return summary, scenario


# ---------------------------------------------------------------------------- in-process API


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("web")
    with TestClient(create_app(data_dir, max_concurrent=2), base_url="http://127.0.0.1") as client:
        yield client, data_dir


def test_public_api():
    assert credsim.web.__all__ == ["create_app"]


def test_page_and_scenarios_are_served(web):
    client, _ = web
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere
    assert client.get("/static/app.js").status_code == 200
    listing = client.get("/api/scenarios").json()["scenarios"]
    city = next(s for s in listing if s["name"] == "city")
    paths = [p["path"] for p in city["parameters"]]
    for path in ("population.size", "population.days", "observation.cameras.watch.minority",
                 "observation.cameras.false_match_rate", "appeal.capacity_per_million",
                 "score.deltas.religious_practice", "score.deltas.online_criticism", "score.forgiveness"):
        assert path in paths
    size = city["parameters"][paths.index("population.size")]
    assert size["max"] == MAX_WEB_POPULATION and size["value"] == 1_000_000


def test_a_run_goes_from_queued_to_done_and_its_report_is_served(web):
    client, data_dir = web
    answer = client.post("/api/runs", json={"scenario": "city", "seed": 5, "parameters": SMALL})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["state"] in ("queued", "running") and uuid.UUID(job["id"]).version == 4
    status, seen = wait_for(client, job["id"])
    assert status["state"] == "done", status
    assert status["days_done"] == status["days"] == 30
    states = [s["state"] for s in seen]
    assert "running" in states
    days_done = [s["days_done"] for s in seen]
    assert days_done == sorted(days_done)
    report = client.get(status["report_url"])
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    assert "default-src 'none'" in report.headers["content-security-policy"]  # inline plotly, no network
    summary, _ = run_files(data_dir, job["id"])
    assert summary["seed"] == 5 and summary["population"] == 3000
    assert run_line(summary) in report.text


BAD_REQUESTS = {
    # name: (method, url, request arguments, status, fragments of the message)
    "unknown path": ("post", "/api/runs", {"json": {"parameters": {"listing.immediate": ["fraud"]}}}, 422,
                     ["'listing.immediate' is not a parameter", "appeal.capacity_per_million"]),
    "misspelt path": ("post", "/api/runs", {"json": {"parameters": {"appeal.capacity_per_milion": 5}}}, 422,
                      ["'appeal.capacity_per_milion' is not a parameter"]),
    "wrong type": ("post", "/api/runs", {"json": {"parameters": {"appeal.capacity_per_million": "five"}}}, 422,
                   ["appeal.capacity_per_million", "must be a number", "Got 'five'"]),
    "float for an integer": ("post", "/api/runs", {"json": {"parameters": {"population.size": 3000.5}}}, 422,
                             ["population.size", "whole number", "3000.5"]),
    "out of range": ("post", "/api/runs", {"json": {"parameters": {"score.forgiveness": 1.5}}}, 422,
                     ["score.forgiveness", "[0, 0.05]", "1.5"]),
    "schema cross-check": ("post", "/api/runs", {"json": {"parameters": {**SMALL, "listing.threshold": 1000}}}, 422,
                           ["listing.exit_threshold", "must not be below", "listing.threshold (1000)"]),
    "population too large": ("post", "/api/runs", {"json": {"parameters": {"population.size": 5_000_000}}}, 422,
                             ["population.size", "2,000,000", "5000000"]),
    "too many days": ("post", "/api/runs", {"json": {"parameters": {"population.days": 36500}}}, 422,
                      ["population.days", "3,650"]),
    "boolean seed": ("post", "/api/runs", {"json": {"seed": True}}, 422, ["'seed'", "whole number", "True"]),
    "negative seed": ("post", "/api/runs", {"json": {"seed": -1}}, 422, ["'seed'", "Got -1"]),
    "unknown scenario": ("post", "/api/runs", {"json": {"scenario": "atlantis"}}, 422, ["'scenario'", "city", "atlantis"]),
    "scenario as a path": ("post", "/api/runs", {"json": {"scenario": "../../etc/passwd.toml"}}, 422, ["built-in"]),
    "unknown key": ("post", "/api/runs", {"json": {"scenario": "city", "sed": 1}}, 422, ["Unknown key 'sed'"]),
    "not an object": ("post", "/api/runs", {"json": [1, 2]}, 422, ["JSON object", "an array"]),
    "parameters not an object": ("post", "/api/runs", {"json": {"parameters": ["x"]}}, 422, ["'parameters'"]),
    "malformed JSON": ("post", "/api/runs", {"content": b'{"scenario": "city",', "headers": {"content-type": "application/json"}},
                       400, ["not valid JSON"]),
    "NaN": ("post", "/api/runs", {"content": b'{"seed": NaN}', "headers": {"content-type": "application/json"}},
            400, ["NaN is not a JSON number"]),
    "Infinity": ("post", "/api/runs", {"content": b'{"seed": -Infinity}', "headers": {"content-type": "application/json"}},
                 400, ["-Infinity is not a JSON number"]),
    "overflowing number": ("post", "/api/runs", {"content": b'{"parameters": {"appeal.capacity_per_million": 1e400}}',
                                                "headers": {"content-type": "application/json"}}, 422, ["must be a number", "inf"]),
    "not UTF-8": ("post", "/api/runs", {"content": b'{"scenario": "\xff"}', "headers": {"content-type": "application/json"}},
                  400, ["not UTF-8"]),
    "deeply nested": ("post", "/api/runs", {"content": b"[" * 10_000 + b"]" * 10_000,
                                           "headers": {"content-type": "application/json"}}, 400, ["not valid JSON"]),
    "oversized body": ("post", "/api/runs", {"content": b'{"scenario": "' + b"x" * 70_000 + b'"}',
                                            "headers": {"content-type": "application/json"}}, 413, ["65,536 bytes"]),
    "not JSON": ("post", "/api/runs", {"data": {"scenario": "city"}}, 415, ["Content-Type: application/json"]),
    "run id traversal": ("get", "/api/runs/..%2F..%2Fetc%2Fpasswd", {}, 404, ["Nothing at"]),
    "run id of dots": ("get", "/api/runs/...", {}, 404, ["No run with id '...'", "UUID"]),
    "run id not a uuid": ("get", "/api/runs/abc", {}, 404, ["No run with id 'abc'"]),
    "unknown run": ("get", f"/api/runs/{uuid.uuid4()}", {}, 404, ["No run with id"]),
    "report traversal": ("get", "/runs/..%2F..%2Fetc%2Fpasswd/report.html", {}, 404, ["Nothing at"]),
    "report dots": ("get", "/runs/../../etc/passwd", {}, 404, ["Nothing at"]),
    "report of unknown run": ("get", f"/runs/{uuid.uuid4()}/report.html", {}, 404, ["No run"]),
    "static traversal": ("get", "/static/%2e%2e/app.py", {}, 404, []),
    "comparison traversal": ("get", "/compare/..%2F..%2Fsummary.json", {}, 404, []),
    "compare bad ids": ("post", "/api/compare", {"json": {"a": "../x", "b": str(uuid.uuid4())}}, 422, ["'a'", "run id"]),
    "compare unknown runs": ("post", "/api/compare", {"json": {"a": str(uuid.uuid4()), "b": str(uuid.uuid4())}}, 422,
                             ["not a finished run"]),
    "compare wrong keys": ("post", "/api/compare", {"json": {"a": 1}}, 422, ["'a' and 'b'"]),
    "unknown route": ("get", "/api/nothing", {}, 404, ["Nothing at '/api/nothing'"]),
    "wrong method": ("put", "/api/runs", {"json": {}}, 405, ["PUT is not allowed"]),
    "foreign Host header": ("get", "/", {"headers": {"host": "attacker.example"}}, 400, ["Invalid host header"]),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_a_4xx_with_a_clear_message(web, case):
    client, _ = web
    method, url, arguments, status, fragments = BAD_REQUESTS[case]
    answer = getattr(client, method)(url, **arguments)
    assert answer.status_code == status, answer.text
    for fragment in fragments:
        assert fragment in answer.text


CITY_PATHS = [p.path for p in parameters_for(load_scenario("city"))]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(JSON_VALUES, st.fixed_dictionaries({}, optional={
    "scenario": st.sampled_from(["city", "sesame", "../city", "city.toml", ""]) | JSON_VALUES,
    "seed": st.integers(-10, 2**40) | JSON_VALUES,
    "parameters": st.dictionaries(
        st.sampled_from([*CITY_PATHS, "listing.immediate", "population", "", "a..b", "meta.name"]) | st.text(max_size=8),
        st.integers(-10**7, 10**7) | st.floats() | JSON_VALUES, max_size=4),
    "extra": JSON_VALUES,
}))


@settings(max_examples=150, deadline=None)
@given(body=BODIES)
def test_any_request_body_is_checked_into_a_run_or_a_4xx_message(body):
    catalog = {"city": parameters_for(load_scenario("city"))}
    try:
        run = check_run_request(body, catalog)
    except RequestError as error:
        assert 400 <= error.status < 500 and str(error)
    else:
        assert run.resolved.population.size <= MAX_WEB_POPULATION


def test_simultaneous_runs_keep_their_own_results_and_compare(web):
    client, data_dir = web
    asks = [{"scenario": "city", "seed": 11, "parameters": {**SMALL, "appeal.capacity_per_million": 7.5}},
            {"scenario": "city", "seed": 12, "parameters": {**SMALL, "population.size": 2000, "appeal.capacity_per_million": 40}}]
    ids = [client.post("/api/runs", json=ask).json()["id"] for ask in asks]
    assert len(set(ids)) == 2
    for job_id, ask in zip(ids, asks):
        status, _ = wait_for(client, job_id)
        assert status["state"] == "done", status
        assert status["request"]["seed"] == ask["seed"]
        summary, scenario = run_files(data_dir, job_id)
        assert summary["seed"] == ask["seed"]
        assert summary["population"] == ask["parameters"]["population.size"]
        assert scenario["appeal"]["capacity_per_million"] == ask["parameters"]["appeal.capacity_per_million"]
    answer = client.post("/api/compare", json={"a": ids[0], "b": ids[1]})
    assert answer.status_code == 200, answer.text
    page = client.get(answer.json()["url"])
    assert page.status_code == 200 and "credsim comparison" in page.text
    assert ids[0] in page.text and ids[1] in page.text
    assert client.post("/api/compare", json={"a": ids[0], "b": ids[0]}).status_code == 422
    # a later server on the same folder still answers for these runs (no lifespan: no workers)
    later = TestClient(create_app(data_dir), base_url="http://127.0.0.1")
    assert later.get(f"/api/runs/{ids[0]}").json()["state"] == "done"
    assert later.get(f"/runs/{ids[1]}/report.html").status_code == 200


def test_a_damaged_run_is_refused_by_every_web_reader(web):
    """The web app reads a run folder through the same check as every reader (the manifest,
    report included): a flipped byte in a finished run's table is a 409 naming the file for
    its report and for a comparison (built before or not), and a later server does not take
    the folder for a finished run."""
    client, data_dir = web
    ids = [client.post("/api/runs", json={"scenario": "city", "seed": seed, "parameters": {"population.size": 500, "population.days": 10}}).json()["id"]
           for seed in (21, 22)]
    for job_id in ids:
        assert wait_for(client, job_id)[0]["state"] == "done"
    assert client.post("/api/compare", json={"a": ids[0], "b": ids[1]}).status_code == 200
    folder = data_dir / "runs" / ids[1]
    assert "report.html" in json.loads((folder / "manifest.json").read_text())["files"]  # the served page is covered
    data = bytearray((folder / "daily.parquet").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "daily.parquet").write_bytes(bytes(data))
    report = client.get(f"/runs/{ids[1]}/report.html")
    assert report.status_code == 409 and "daily.parquet: SHA-256 differs" in report.json()["error"]
    assert str(data_dir) not in report.json()["error"]  # the server's folders are not shown
    again = client.post("/api/compare", json={"a": ids[0], "b": ids[1]})
    assert again.status_code == 409 and again.json()["field"] == "b" and "daily.parquet" in again.json()["error"]
    later = TestClient(create_app(data_dir), base_url="http://127.0.0.1")
    assert later.get(f"/api/runs/{ids[0]}").json()["state"] == "done"
    status = later.get(f"/api/runs/{ids[1]}").json()
    assert status["state"] == "failed" and "daily.parquet: SHA-256 differs" in status["error"]
    assert later.get(f"/runs/{ids[1]}/report.html").status_code == 404


def test_the_concurrency_cap_queues_the_rest_and_refuses_past_the_queue(tmp_path):
    app = create_app(tmp_path, max_concurrent=1, max_queued=1)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        first = client.post("/api/runs", json={"seed": 1, "parameters": SMALL}).json()["id"]
        second = client.post("/api/runs", json={"seed": 2, "parameters": SMALL}).json()["id"]
        refused = client.post("/api/runs", json={"seed": 3, "parameters": SMALL})
        assert refused.status_code == 429 and "busy" in refused.json()["error"]
        assert refused.headers["retry-after"]
        deadline = time.monotonic() + 60
        while client.get(f"/api/runs/{first}").json()["state"] != "running":
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.05)
        waiting = client.get(f"/api/runs/{second}").json()
        assert waiting["state"] == "queued" and waiting["queue_position"] == 1 and waiting["days_done"] == 0
        assert client.get(f"/api/runs/{first}").json()["state"] == "running"
        cancelled = client.delete(f"/api/runs/{second}").json()
        assert cancelled["state"] == "cancelled"
        started = time.monotonic()
    # leaving the client shuts the app down: the first run is stopped at its next day
    assert time.monotonic() - started < 15
    progress = json.loads((tmp_path / "runs" / first / "progress.json").read_text())
    assert progress["state"] in ("cancelled", "done")


def test_serve_binds_to_loopback_unless_told_and_warns_when_told(monkeypatch):
    listened = []

    def fake_listen(address, port):  # record instead of listening: no socket beyond loopback, ever
        listened.append((address, port))
        raise typer.Exit(3)

    monkeypatch.setattr(web_cli, "_listen", fake_listen)
    app = typer.Typer()
    app.callback()(lambda: None)
    web_cli.register(app)
    quiet = CliRunner().invoke(app, ["serve"])
    loud = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert listened == [("127.0.0.1", 8765), ("0.0.0.0", 9000)]
    assert quiet.exit_code == loud.exit_code == 3
    assert "warning" not in quiet.output
    assert "warning" in loud.stderr and "0.0.0.0" in loud.stderr and "anyone who can" in loud.stderr


def test_loopback_detection():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.5.5.5"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "example.org", "::"))


# ---------------------------------------------------------------------------- a real server


@contextmanager
def serving(data_dir: Path, *options: str):
    """``python -m credsim.web serve`` on 127.0.0.1 and a free port; yields its base URL and
    always stops it (SIGTERM, then SIGKILL)."""
    stderr = open(data_dir.parent / f"{data_dir.name}-server.log", "w+")
    command = [sys.executable, "-m", "credsim.web", "serve", "--port", "0", "--data-dir", str(data_dir), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=60)
        line = process.stdout.readline() if ready else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        if url is None:
            stderr.seek(0)
            raise AssertionError(f"the server did not start: {line!r}\n{stderr.read()}")
        yield url.group(0)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("the server did not stop within 20 s of SIGTERM") from None
        finally:
            process.stdout.close()
            stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for the load test and the browser test: (base URL, data folder)."""
    data_dir = tmp_path_factory.mktemp("served") / "data"
    with serving(data_dir, "--max-concurrent", "2", "--max-queued", "10") as base:
        yield base, data_dir


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "credsim.web", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


async def _load(base: str, asks: list[dict], data_dir: Path) -> dict:
    """200 concurrent requests of every kind, then the runs polled to the end."""
    latencies, statuses = [], []

    async def call(client, method, url, **arguments):
        started = time.perf_counter()
        answer = await client.request(method, url, **arguments)
        latencies.append(time.perf_counter() - started)
        statuses.append(answer.status_code)
        return answer

    json_header = {"content-type": "application/json"}
    kinds = [("GET", "/", {}, 200), ("GET", "/api/scenarios", {}, 200), ("GET", "/static/app.js", {}, 200),
             ("GET", "/api/health", {}, 200), ("GET", f"/api/runs/{uuid.uuid4()}", {}, 404),
             ("POST", "/api/runs", {"content": b"{oops", "headers": json_header}, 400),
             ("POST", "/api/runs", {"json": {"parameters": {"population.size": 10**9}}}, 422),
             ("POST", "/api/runs", {"content": b"[" + b" " * 100_000 + b"]", "headers": json_header}, 413)]
    plan = [("POST", "/api/runs", {"json": ask}, 202) for ask in asks]
    plan += [kinds[i % len(kinds)] for i in range(200 - len(plan))]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(call(client, m, u, **a) for m, u, a, _ in plan))
        burst_s = time.perf_counter() - started
        for (method, url, _, expected), answer in zip(plan, answers):
            assert answer.status_code == expected, (method, url, answer.status_code, answer.text[:300])
        ids = [answer.json()["id"] for answer in answers[: len(asks)]]
        peak_running = peak_queued = 0
        deadline = time.monotonic() + 75
        pending = set(ids)
        while pending:
            assert time.monotonic() < deadline, f"runs not finished: {pending}"
            health = (await call(client, "GET", "/api/health")).json()
            assert health["running"] <= 2, health  # the cap holds
            peak_running, peak_queued = max(peak_running, health["running"]), max(peak_queued, health["queued"])
            for job_id in list(pending):
                status = (await call(client, "GET", f"/api/runs/{job_id}")).json()
                assert status["state"] not in ("failed", "cancelled"), status
                if status["state"] == "done":
                    pending.discard(job_id)
            await asyncio.sleep(0.2)
    return {"requests": len(statuses), "burst_requests": len(plan), "burst_seconds": round(burst_s, 3),
            "max_latency_s": round(max(latencies), 3),
            "p95_latency_s": round(sorted(latencies)[int(0.95 * len(latencies))], 3),
            "status_5xx": sum(s >= 500 for s in statuses), "runs": ids,
            "peak_running": peak_running, "peak_queued": peak_queued}


def test_load_on_a_real_server_on_loopback(server, capsys):
    base, data_dir = server
    assert base.startswith("http://127.0.0.1:")
    asks = [{"scenario": "city", "seed": 100 + i,
             "parameters": {"population.size": 1500 + 100 * i, "population.days": 15, "appeal.capacity_per_million": 1.0 + i}}
            for i in range(4)]
    started = time.monotonic()
    figures = asyncio.run(_load(base, asks, data_dir))
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    assert figures["status_5xx"] == 0
    for job_id, ask in zip(figures["runs"], asks):  # no run took another's parameters or seed
        summary, scenario = run_files(data_dir, job_id)
        assert summary["seed"] == ask["seed"]
        assert summary["population"] == ask["parameters"]["population.size"]
        assert scenario["appeal"]["capacity_per_million"] == ask["parameters"]["appeal.capacity_per_million"]
        request = json.loads((data_dir / "runs" / job_id / "request.json").read_text())
        assert request["id"] == job_id and request["seed"] == ask["seed"]
    figures.pop("runs")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "web-load.json").write_text(json.dumps(figures, indent=2) + "\n")
    with capsys.disabled():  # the figures belong in the test output, also under -q
        print(f"\nweb load test ({ARTIFACTS / 'web-load.json'}): {json.dumps(figures)}")


# ---------------------------------------------------------------------------- the page, in Chromium


def _browser_or_fail():
    if os.environ.get("CREDSIM_SKIP_BROWSER") == "1":
        pytest.skip("CREDSIM_SKIP_BROWSER=1: the browser test is skipped")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser.sh as root "
                    "(or set CREDSIM_SKIP_BROWSER=1 to skip the browser test)", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install playwright (never `playwright install`: the test "
                    "drives /usr/bin/chromium)", pytrace=False)
    return sync_playwright


def _set(page, path: str, text: str) -> None:
    page.locator(f'.param[data-path="{path}"] input[type=text]').fill(text)


def _run_and_wait(page, data_dir: Path, previous: str | None) -> tuple[str, dict, dict]:
    page.click("#run-button")
    page.wait_for_function("(prev) => document.body.dataset.runId && document.body.dataset.runId !== prev", arg=previous)
    page.wait_for_selector("#status[data-state=done]", timeout=60_000)
    job_id = page.get_attribute("body", "data-run-id")
    summary, scenario = run_files(data_dir, job_id)
    return job_id, summary, scenario


def test_the_page_end_to_end_in_chromium(server, capsys):
    sync_playwright = _browser_or_fail()
    base, data_dir = server
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("web-e2e-*.png"):
        old.unlink()
    problems, foreign = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda message: message.type == "error" and " 422 " not in message.text  # the bad inputs below
                    and problems.append(f"console: {message.text}"))
            page.on("request", lambda request: request.url.startswith((base, "data:", "about:")) or foreign.append(request.url))
            page.goto(base + "/")
            page.wait_for_selector('.param[data-path="appeal.capacity_per_million"]')
            assert page.input_value("#scenario") == "city"

            # the people slider moves through orders of magnitude: its middle is about sqrt(100 x 2,000,000)
            page.locator('.param[data-path="population.size"] input[type=range]').fill("500")
            assert page.input_value('.param[data-path="population.size"] input[type=text]') == "14000"

            # a first run, pinned
            _set(page, "population.size", "3000")
            _set(page, "population.days", "30")
            page.fill("#seed", "1")
            first, summary, _ = _run_and_wait(page, data_dir, None)
            report = page.frame_locator("#report-frame")
            assert run_line(summary) in report.locator("header").inner_text()
            page.click("#pin-button")
            assert "Pinned: city: 3,000 people, 30 days, seed 1" in page.inner_text("#pinned-info")

            # a second run with the appeal-capacity slider moved: the report must show the new run
            page.locator('.param[data-path="appeal.capacity_per_million"] input[type=range]').fill("40")
            assert page.input_value('.param[data-path="appeal.capacity_per_million"] input[type=text]') == "40"
            _set(page, "population.size", "2500")
            page.fill("#seed", "2")
            second, summary, scenario = _run_and_wait(page, data_dir, first)
            assert second != first and summary["seed"] == 2 and summary["population"] == 2500
            assert scenario["appeal"]["capacity_per_million"] == 40.0
            assert page.get_attribute("#report-frame", "src") == f"/runs/{second}/report.html"
            header = report.locator("header").inner_text()
            assert run_line(summary) in header and "seed 1" not in header
            headline = report.locator("#headline").inner_text()
            for group in summary["by_group"]:
                assert all(sentence in headline for sentence in group_sentences(summary, group))
            assert "capacity_per_million = 40.0" in report.locator("#scenario pre").text_content()
            frame = next(f for f in page.frames if f.url.endswith(f"/runs/{second}/report.html"))
            frame.wait_for_function("() => document.querySelectorAll('.plot').length > 0 && "  # plotly drew every chart
                                    "[...document.querySelectorAll('.plot')].every(p => p.querySelector('svg.main-svg'))")
            report.locator(".plot").first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "web-e2e-report.png"))

            # the comparison with the pinned run: offered in a tab (drawn when opened; not here, to save time)
            page.wait_for_selector("#tab-compare:not([hidden])", timeout=30_000)
            url = page.get_attribute("#compare-frame", "data-url")
            assert url == f"/compare/{first}-{second}.html"
            comparison = page.request.get(base + url)
            assert comparison.status == 200 and first in comparison.text() and second in comparison.text()

            # invalid input: the server's message appears beside the form, escaped
            _set(page, "population.size", "5000000")
            page.click("#run-button")
            page.wait_for_selector("#form-error:not([hidden])")
            message = page.inner_text("#form-error")
            assert "population.size" in message and "2,000,000" in message and "5000000" in message
            assert page.get_attribute('.param[data-path="population.size"] input[type=text]', "aria-invalid") == "true"
            _set(page, "population.size", "3000")
            _set(page, "appeal.capacity_per_million", "<b>lots</b>")
            page.click("#run-button")
            page.wait_for_function("() => document.querySelector('#form-error').textContent.includes('lots')")
            message = page.inner_text("#form-error")
            assert "appeal.capacity_per_million" in message and "Got '<b>lots</b>'" in message
            assert page.locator("#form-error b").count() == 0  # shown as text, not markup
            page.screenshot(path=str(ARTIFACTS / "web-e2e-error.png"))
            assert page.get_attribute("body", "data-run-id") == second  # no run was started
        finally:
            browser.close()
    assert not foreign, f"the page loaded something from elsewhere: {foreign}"
    assert not problems, problems
    with capsys.disabled():
        print(f"\nweb e2e screenshots: {', '.join(sorted(str(p) for p in ARTIFACTS.glob('web-e2e-*.png')))}")
