"""The action server: rasa-sdk's own Sanic app and command line, plus Prometheus `/metrics` on the same port.

`python -m actions --actions actions --port 5055` (what `bot/runtime.py` starts) behaves like
`python -m rasa_sdk` with the same options: the app is rasa-sdk's (`create_app_for_serve`: /health, /webhook,
/actions, plugins), served the way rasa-sdk serves it. Added: every action run is timed and counted by
action name, and `GET /metrics` shows those and the guide counters (`actions/metrics.py`). Once it listens, the
server builds the search index and freezes its start-up objects out of the garbage collector's way.

Metrics live in the worker process that serves the requests. With SANIC_WORKERS > 1 each worker keeps its
own, and a scrape sees one of them; the system runs the action server with one worker.
"""

from __future__ import annotations

import logging
import os
import time
from functools import partial

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from rasa_sdk import endpoint, utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME, DEFAULT_ENDPOINTS_PATH
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.worker.loader import AppLoader

from actions.metrics import ACTION_RUNS, ACTION_SECONDS
from actions.services import knowledge_base
from bot.gc_pauses import freeze_long_lived


class MeasuredExecutor(ActionExecutor):
    """rasa-sdk's executor; each run is counted (ok or error) and timed, labelled by the action's name."""

    async def run(self, action_call, *args, **kwargs):
        name = action_call.get("next_action")
        label = name if name in self.actions else "unknown"  # names from a request: keep the label set bounded
        started = time.perf_counter()
        result = "error"
        try:
            answer = await super().run(action_call, *args, **kwargs)
            result = "ok"
            return answer
        finally:
            ACTION_RUNS.labels(label, result).inc()
            ACTION_SECONDS.labels(label).observe(time.perf_counter() - started)


async def metrics(_request) -> response.HTTPResponse:
    """Prometheus text exposition of this process's metrics."""
    return response.raw(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


async def warm_up(_app: Sanic) -> None:
    """Build the search index before the first customer needs it, then freeze what start-up built out of the
    garbage collector's way (bot/gc_pauses.py: full collections had stalled this server for 60-110 ms)."""
    try:
        knowledge_base().index()
    except Exception:  # the first search tries again and reports it to the customer's conversation
        logging.getLogger(__name__).exception("the knowledge base could not be loaded at start")
    freeze_long_lived("action server started")


def create_app(executor: ActionExecutor, **options) -> Sanic:
    """rasa-sdk's action server app with `GET /metrics` added (`options`: those of create_app_for_serve), warmed
    up once it listens."""
    app = endpoint.create_app_for_serve(executor, **options)
    app.add_route(metrics, "/metrics", methods=["GET"], name="metrics")
    app.register_listener(warm_up, "after_server_start")
    return app


def serve(executor: ActionExecutor, args) -> None:
    """Serve like rasa_sdk.endpoint.run: an AppLoader so every Sanic worker builds the same app."""
    loader = AppLoader(
        factory=partial(
            create_app,
            executor,
            cors_origins=args.cors,
            auto_reload=args.auto_reload,
            endpoints=args.endpoints or DEFAULT_ENDPOINTS_PATH,
        )
    )
    app = loader.load()
    ssl = endpoint.create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")
    logging.getLogger(__name__).info("Action server with /metrics on %s:%s", host, args.port)
    app.prepare(host=host, port=args.port, ssl=ssl, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)


def main(argv: list[str] | None = None) -> None:
    """rasa-sdk's command line (`python -m rasa_sdk --help`); gRPC mode is handed to rasa-sdk unchanged."""
    args = endpoint.create_argument_parser().parse_args(argv)
    if getattr(args, "grpc", False):
        from rasa_sdk.__main__ import main_from_args

        main_from_args(args)
        return
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = MeasuredExecutor()
    executor.register_package(args.actions_module or args.actions)
    serve(executor, args)
