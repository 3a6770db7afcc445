"""`rasa data validate --fail-on-warnings`, run in-process by Rasa's own Python and reported as JSON.

Run as a script by `bot.validation.rasa_data` with `.venv-rasa/bin/python` (it imports only the standard
library and Rasa, never the rest of `bot`). It does what the `rasa` command does for `data validate`: the same
logging and warning filters, `TrainingDataImporter.load_from_config` and `rasa.cli.utils.validate_files` with
fail-on-warnings, but skips loading Rasa's command line (argument parsers, plugins, telemetry) and collects each
warning, log warning and error into a list instead of printing it:

    {"ok": bool, "messages": [{"level": "warning" | "error", "text": "..."}], "seconds": {...}}

One speed-up that does not change the result: `jsonschema.validate` re-checks Rasa's constant entity schema
for every `[text]{"entity": ...}` annotation (600 of them here, ~1 s); it is replaced by a cached validator
that checks the schema once and validates each annotation exactly as before.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings

DATA_WARNINGS = (UserWarning, FutureWarning)  # what Rasa raises about the data (not its own deprecations)


class _Collect(logging.Handler):
    def __init__(self, messages: list[dict]):
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= logging.ERROR else "warning"
        self.messages.append({"level": level, "text": record.getMessage()})


def _cache_schema_checks() -> None:
    import jsonschema
    from jsonschema import exceptions, validators

    cached: dict[str, object] = {}

    def validate(instance, schema, cls=None, *args, **kwargs):
        key = json.dumps([schema, repr(cls), args, sorted(kwargs)], sort_keys=True, default=repr)
        if key not in cached:
            validator_class = cls or validators.validator_for(schema)
            validator_class.check_schema(schema)
            cached[key] = validator_class(schema, *args, **kwargs)
        error = exceptions.best_match(cached[key].iter_errors(instance))
        if error is not None:
            raise error

    jsonschema.validate = validate


def _collect_structlog(messages: list[dict]) -> None:
    import structlog

    def record(_logger, method: str, event: dict) -> dict:
        if method in ("warning", "error", "critical", "exception"):
            details = ", ".join(f"{k}={v!r}" for k, v in event.items() if k not in ("event", "event_info"))
            text = f"{event.get('event_info') or event.get('event')}" + (f" ({details})" if details else "")
            messages.append({"level": "error" if method != "warning" else "warning", "text": text})
        raise structlog.DropEvent

    structlog.configure(processors=[record], logger_factory=structlog.ReturnLoggerFactory())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", nargs="+", required=True)
    args = parser.parse_args()
    # run as a script, this file's directory is first on the path: its siblings (project.py, stories.py, ...)
    # must not shadow modules Rasa imports
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]

    started = time.perf_counter()
    import rasa.cli.utils
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import configure_logging_and_warnings

    imported = time.perf_counter()
    configure_logging_and_warnings(None, None, warn_only_once=True, filter_repeated_logs=True)
    sys.path.insert(1, os.getcwd())  # as `rasa` does, so custom components are found
    _cache_schema_checks()
    messages: list[dict] = []
    logging.getLogger("rasa").addHandler(_Collect(messages))
    _collect_structlog(messages)
    ok = True
    with warnings.catch_warnings(record=True) as caught:  # keeps Rasa's warning filters
        try:
            importer = TrainingDataImporter.load_from_config(
                domain_path=args.domain, training_data_paths=args.data, config_path=args.config
            )
            rasa.cli.utils.validate_files(True, None, importer)
        except SystemExit as exc:  # print_error_and_exit: "Project validation completed with errors."
            ok = exc.code in (0, None)
        except Exception as exc:  # noqa: BLE001 - `rasa data validate` stops with this error too
            ok = False
            messages.append({"level": "error", "text": f"{type(exc).__name__}: {exc}"})
    messages[:0] = [
        {"level": "warning", "text": str(w.message)}
        for w in caught
        if issubclass(w.category, DATA_WARNINGS) and f"{os.sep}rasa{os.sep}" in w.filename
    ]
    seconds = {"import": imported - started, "validate": time.perf_counter() - imported}
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"ok": ok, "messages": messages, "seconds": seconds}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
