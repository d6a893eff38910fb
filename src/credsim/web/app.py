"""The web app: a Starlette ASGI application over :mod:`credsim.web.jobs`.

    GET    /                          the page (static/index.html, app.js, style.css)
    GET    /api/scenarios             the built-in scenarios and the parameters the form offers
    POST   /api/runs                  {scenario, seed, parameters} -> 202 {id, state, ...}
    GET    /api/runs/{id}             {state: queued|running|done|failed|cancelled, days_done, days, error?}
    DELETE /api/runs/{id}             cancel a run
    GET    /runs/{id}/report.html     the finished run's report
    POST   /api/compare               {a, b} -> {url}: the report comparing two finished runs
    GET    /compare/{a}-{b}.html      that report
    GET    /api/health                running and queued counts

Bad input is answered with a 4xx and ``{"error": message}``, never a 500: a body over
``max_body_bytes`` 413, a body that is not JSON 400 (415 without a JSON content type), a
request that does not validate 422, a full queue 429, a finished run whose files no longer
match their manifest 409, an unknown route or run 404. Only
loopback Host headers are served unless other hosts are allowed (against DNS rebinding).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from credsim.errors import CorruptRunError, CredsimError
from credsim.report import build_comparison
from credsim.report.build import REPORT_NAME
from credsim.resources import check_memory
from credsim.results.manifest import MANIFEST, verify
from credsim.scenario import DEFAULT_SCENARIO, describe_builtins, load_scenario
from credsim.web.jobs import JobManager, QueueFull, is_job_id
from credsim.web.params import RequestError, check_run_request, parameters_for

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_BODY_BYTES = 64 * 1024
COMPARISON_NAME = re.compile(r"^(?P<a>[0-9a-f-]{36})-(?P<b>[0-9a-f-]{36})\.html$")

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
# The reports are self-contained pages with inline plotly: inline code, but no network at all.
REPORT_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
                 "font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")

log = logging.getLogger("credsim.web")


class WebState:
    """What the handlers share: the settings, the jobs, and the scenario catalogue."""

    def __init__(self, data_dir: Path, jobs: JobManager, max_body_bytes: int):
        self.data_dir = data_dir
        self.jobs = jobs
        self.max_body_bytes = max_body_bytes
        self.catalog, self.scenarios = _catalog()
        self.comparisons = threading.BoundedSemaphore(2)  # building a report is CPU work: two at a time


def create_app(
    data_dir: str | Path,
    max_concurrent: int = 2,
    *,
    max_queued: int = 20,
    max_body_bytes: int = MAX_BODY_BYTES,
    allowed_hosts: list[str] | tuple[str, ...] = LOOPBACK_HOSTS,
) -> Starlette:
    """The ASGI app, keeping its runs in ``data_dir/runs/<id>/`` and comparisons in
    ``data_dir/compare/``; at most ``max_concurrent`` simulations at once and ``max_queued``
    waiting. ``allowed_hosts``: the Host headers served (``["*"]`` for any)."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = WebState(folder, JobManager(folder, max_concurrent, max_queued), max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        state.jobs.start()
        try:
            yield
        finally:
            await run_in_threadpool(state.jobs.shutdown)

    static = str(resources.files("credsim.web") / "static")
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/scenarios", scenarios, methods=["GET"]),
        Route("/api/runs", submit_run, methods=["POST"]),
        Route("/api/runs/{job_id}", run_status, methods=["GET"]),
        Route("/api/runs/{job_id}", cancel_run, methods=["DELETE"]),
        Route("/runs/{job_id}/report.html", run_report, methods=["GET"]),
        Route("/api/compare", compare, methods=["POST"]),
        Route("/compare/{name}", comparison_page, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
        exception_handlers={HTTPException: http_error, RequestError: request_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.web = state
    return app


# ---------------------------------------------------------------------------- handlers


async def index(request: Request) -> Response:
    return FileResponse(resources.files("credsim.web") / "static" / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})


async def health(request: Request) -> Response:
    jobs = _state(request).jobs
    return JSONResponse({"ok": True, **jobs.counts(), "max_concurrent": jobs.max_concurrent, "max_queued": jobs.max_queued})


async def scenarios(request: Request) -> Response:
    return JSONResponse({"scenarios": _state(request).scenarios, "default": DEFAULT_SCENARIO})


async def submit_run(request: Request) -> Response:
    state = _state(request)
    body = await read_json_body(request, state.max_body_bytes)
    run = await run_in_threadpool(check_run_request, body, state.catalog)
    try:
        check_memory(run.resolved)
        job = state.jobs.submit(run)
    except QueueFull as full:
        raise RequestError(str(full), status=429) from None
    except CredsimError as error:  # ResourceError: the run would not fit in memory or on disk
        raise RequestError(str(error), field="population.size") from None
    status = state.jobs.status(job.id)
    return JSONResponse(status, status_code=202, headers={"Location": f"/api/runs/{job.id}"})


async def run_status(request: Request) -> Response:
    job_id = _job_id(request.path_params["job_id"])
    status = _state(request).jobs.status(job_id)
    if status is None:
        raise RequestError(f"No run with id {job_id!r}.", status=404)
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


async def cancel_run(request: Request) -> Response:
    job_id = _job_id(request.path_params["job_id"])
    status = _state(request).jobs.cancel(job_id)
    if status is None:
        raise RequestError(f"No run with id {job_id!r}.", status=404)
    return JSONResponse(status)


async def run_report(request: Request) -> Response:
    state = _state(request)
    job_id = _job_id(request.path_params["job_id"])
    status = state.jobs.status(job_id)
    if status is None:
        raise RequestError(f"No run with id {job_id!r}.", status=404)
    if status["state"] != "done":
        raise RequestError(f"The report of run {job_id} is not ready: the run is {status['state']}.", status=404)
    folder = state.jobs.folder(job_id)
    await run_in_threadpool(_verify_run, folder, job_id, True)
    return _html_file(folder / REPORT_NAME)


async def compare(request: Request) -> Response:
    state = _state(request)
    body = await read_json_body(request, state.max_body_bytes)
    if not isinstance(body, dict) or set(body) != {"a", "b"}:
        raise RequestError("A comparison request must be a JSON object with exactly the keys 'a' and 'b': two run ids.")
    a, b = body["a"], body["b"]
    for key, value in (("a", a), ("b", b)):
        if not isinstance(value, str) or not is_job_id(value):
            raise RequestError(f"The {key!r} parameter must be a run id (a UUID). Got {_show(value)} instead.", field=key)
        if not state.jobs.is_done(value):
            raise RequestError(f"Run {value} is not a finished run; compare two runs that are done.", field=key)
    if a == b:
        raise RequestError("Pick two different runs to compare.", field="b")
    for key, value in (("a", a), ("b", b)):  # also when the comparison was built before
        await run_in_threadpool(_verify_run, state.jobs.folder(value), value, False, key)
    target = state.data_dir / "compare" / f"{a}-{b}.html"
    if not target.is_file():
        try:
            await run_in_threadpool(_build_comparison, state, a, b, target)
        except CredsimError as error:
            raise RequestError(f"Could not compare the runs: {error}") from None
    return JSONResponse({"url": f"/compare/{a}-{b}.html", "a": a, "b": b})


async def comparison_page(request: Request) -> Response:
    name = request.path_params["name"]
    match = COMPARISON_NAME.match(name)
    if match is None or not (is_job_id(match["a"]) and is_job_id(match["b"])):
        raise RequestError(f"No comparison {name!r}.", status=404)
    path = _state(request).data_dir / "compare" / name
    if not path.is_file():
        raise RequestError(f"No comparison {name!r}; ask for it with POST /api/compare.", status=404)
    return _html_file(path)


# ---------------------------------------------------------------------------- requests and errors


async def read_json_body(request: Request, limit: int):
    """The request's JSON body; a :class:`RequestError` for a body too large (413), not
    declared as JSON (415), or not valid JSON (400). NaN and Infinity are not JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError(f"Send the request as JSON with the header 'Content-Type: application/json'. "
                           f"Got {kind or 'no content type'!r} instead.", status=415)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(f"The request body may be at most {limit:,} bytes. Got {declared} bytes instead.", status=413)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestError(f"The request body may be at most {limit:,} bytes.", status=413)
    except ClientDisconnect:
        raise RequestError("The client went away before the request was read.", status=400) from None
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError as error:
        raise RequestError(f"The request body is not UTF-8 text (byte {error.start}).", status=400) from None
    except (ValueError, RecursionError) as error:
        raise RequestError(f"The request body is not valid JSON: {error}.", status=400) from None


def _build_comparison(state: WebState, a: str, b: str, target: Path) -> None:
    with state.comparisons:
        if not target.is_file():  # another request may have built it meanwhile
            build_comparison(state.jobs.folder(a), state.jobs.folder(b), target)


def _verify_run(folder: Path, job_id: str, with_report: bool, field: str | None = None) -> None:
    """Check a finished run's folder against its manifest (report included when asked), the
    same check as every reader of a run folder; a 409 naming the file when it fails."""
    try:
        files = verify(folder)["files"]
        if with_report and REPORT_NAME not in files:
            raise CorruptRunError(f"{folder / REPORT_NAME}: not listed in {folder / MANIFEST}")
    except CorruptRunError as error:
        message = str(error).replace(str(folder), f"run {job_id}")
        raise RequestError(f"The files of run {job_id} do not match their manifest: {message}", status=409, field=field) from None


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON number")


async def request_error(request: Request, error: RequestError) -> Response:
    content = {"error": str(error), "status": error.status}
    if error.field is not None:
        content["field"] = error.field
    headers = {"Retry-After": "10"} if error.status == 429 else None
    return JSONResponse(content, status_code=error.status, headers=headers)


async def http_error(request: Request, error: HTTPException) -> Response:
    messages = {404: f"Nothing at {request.url.path!r}.", 405: f"{request.method} is not allowed at {request.url.path!r}."}
    message = messages.get(error.status_code, str(error.detail))
    return JSONResponse({"error": message, "status": error.status_code}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


async def server_error(request: Request, error: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"error": "Internal server error; the details are in the server's log.", "status": 500},
                        status_code=500)


class SecurityHeaders:
    """Pure ASGI middleware: no sniffing, no referrer, and a content policy on every response
    (the reports get their own: inline plotly, no network)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = REPORT_POLICY if scope["path"].endswith(".html") else PAGE_POLICY

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"content-security-policy", policy.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------- internals


def _state(request: Request) -> WebState:
    return request.app.state.web


def _job_id(text: str) -> str:
    if not is_job_id(text):
        raise RequestError(f"No run with id {_show(text)}: run ids are UUIDs such as "
                           "'3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b'.", status=404)
    return text


def _html_file(path: Path) -> Response:
    if not path.is_file():
        raise RequestError(f"{path.name} is missing.", status=404)
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _catalog() -> tuple[dict[str, list], list[dict]]:
    """name -> parameters, and the JSON list of scenarios for the page. A built-in that does
    not load is listed with its error instead of parameters."""
    catalog, listing = {}, []
    for name, description in describe_builtins():
        entry = {"name": name, "description": description}
        try:
            scenario = load_scenario(name)
        except CredsimError as error:
            entry["error"] = str(error)
        else:
            catalog[name] = parameters_for(scenario)
            entry.update(parameters=[p.to_json() for p in catalog[name]], seed=0)
        listing.append(entry)
    return catalog, listing
