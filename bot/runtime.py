"""Installing, training and running the system's processes (Rasa server, action server)."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml
from sqlalchemy.engine import make_url

from bot.settings import PROJECT_DIR, VAR_DIR, Settings

RASA_VERSION = "3.6.21"
RASA_VENV = PROJECT_DIR / ".venv-rasa"
RASA_REQUIREMENTS = [f"rasa=={RASA_VERSION}", "psycopg2-binary>=2.9,<2.10"]
TRAINING_INPUTS = [
    "config.yml",
    "domain.yml",
    "data/nlu",
    "data/rules",
    "data/stories",
    "bot/rasa_components.py",
    "bot/language.py",
]  # the model's fingerprint covers these
Log = Callable[[str], None]


# -- environments ----------------------------------------------------------------------------------------
def find_python310() -> str:
    """A Python 3.10 interpreter for Rasa (PATH first, then pyenv's versions)."""
    candidates = [
        shutil.which("python3.10"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10"))),
    ]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError("Python 3.10 is needed for Rasa 3.6 but was not found (install it, e.g. with pyenv).")


def rasa_executable() -> Path:
    return RASA_VENV / "bin" / "rasa"


def ensure_rasa_env(log: Log = print) -> Path:
    """Create `.venv-rasa` with Rasa if it is missing or outdated; returns the `rasa` executable."""
    marker = RASA_VENV / ".requirements"
    wanted = "\n".join(RASA_REQUIREMENTS)
    if rasa_executable().exists() and marker.exists() and marker.read_text() == wanted:
        return rasa_executable()
    log(f"Installing Rasa {RASA_VERSION} into {RASA_VENV} (Python 3.10, takes a few minutes the first time)")
    if not (RASA_VENV / "bin" / "python").exists():
        subprocess.run([find_python310(), "-m", "venv", str(RASA_VENV)], check=True)
    pip = [str(RASA_VENV / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip", "setuptools<70", "wheel"], check=True)
    subprocess.run([*pip, *RASA_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return rasa_executable()


def rasa_env() -> dict[str, str]:
    """Environment for Rasa processes: the project on the path (custom components), quiet TensorFlow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_DIR)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    return env


# -- training ---------------------------------------------------------------------------------------------
def training_fingerprint(root: Path = PROJECT_DIR) -> str:
    """Hash of everything the Rasa model is trained from (under `root`: the project or a copy of its training
    inputs, see bot/retrain.py); a new hash means the model must be retrained."""
    digest = hashlib.sha256(RASA_VERSION.encode())
    for entry in TRAINING_INPUTS:
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def train_command(out: Path, *extra: str, root: Path = PROJECT_DIR) -> list[str]:
    """`rasa train` on the config, domain and training data under `root` (run it with `cwd=root`), writing the
    model to `out`."""
    data = [d for d in ("data/nlu", "data/rules", "data/stories") if (root / d).exists()]
    return [
        str(rasa_executable()),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        *data,
        "--out",
        str(out),
        *extra,
    ]


def isolated_settings(work: Path, rasa_port: int, action_port: int, **overrides) -> Settings:
    """Settings for a separate instance (tests, benchmark): own SQLite databases under `work`, own ports."""
    return Settings(
        database_url=f"sqlite:///{work / 'app.db'}",
        tracker_store_url=f"sqlite:///{work / 'tracker.db'}",
        rasa_port=rasa_port,
        action_port=action_port,
        rasa_token=uuid.uuid4().hex,
        **overrides,
    )


def model_path(settings: Settings, root: Path = PROJECT_DIR) -> Path:
    """The model file for the training inputs under `root`: the one `run` starts and `train` writes."""
    return settings.models_dir / f"support-{training_fingerprint(root)}.tar.gz"


def train(settings: Settings, force: bool = False, log: Log = print) -> tuple[Path, float | None]:
    """Train the Rasa model unless one for the current training data exists; returns (path, seconds or None)."""
    target = model_path(settings)
    if target.exists() and not force:
        log(f"Model is up to date: {target.name}")
        return target, None
    ensure_rasa_env(log)
    log("Training the Rasa model (NLU and dialogue)")
    started = time.perf_counter()
    subprocess.run(
        train_command(settings.models_dir, "--fixed-model-name", target.name.removesuffix(".tar.gz")),
        cwd=PROJECT_DIR,
        env=rasa_env(),
        check=True,
    )
    return target, time.perf_counter() - started


# -- configuration for Rasa -------------------------------------------------------------------------------
def write_endpoints(settings: Settings) -> Path:
    """Write var/endpoints-<port>.yml: action server, tracker store (SQLite or PostgreSQL), lock store."""
    tracker_url = make_url(settings.tracker_store_url)
    tracker: dict = {
        "type": "bot.rasa_server.CachedSQLTrackerStore",  # Rasa's SQL store plus a cache (bot/rasa_server.py)
        "dialect": tracker_url.get_backend_name(),
        "cache_size": settings.tracker_cache,
    }
    if tracker["dialect"] == "sqlite":
        tracker["db"] = tracker_url.database
        Path(tracker_url.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        tracker.update(
            url=tracker_url.host or "127.0.0.1",
            port=tracker_url.port or 5432,
            db=tracker_url.database,
            username=tracker_url.username or "postgres",
            password=tracker_url.password or "",
        )
    endpoints: dict = {"action_endpoint": {"url": settings.action_url}, "tracker_store": tracker}
    if settings.redis_url:
        redis_url = urlsplit(settings.redis_url)
        endpoints["lock_store"] = {
            "type": "redis",
            "url": redis_url.hostname,
            "port": redis_url.port or 6379,
            "db": int(redis_url.path.strip("/") or 0),
        }
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / f"endpoints-{settings.rasa_port}.yml"  # one per instance, so tests never touch the default
    path.write_text(yaml.safe_dump(endpoints, sort_keys=False))
    return path


# -- processes ---------------------------------------------------------------------------------------------
def start_action_server(settings: Settings, log_file: Path | None = None) -> subprocess.Popen:
    """The action server (rasa-sdk's, plus Prometheus /metrics: `python -m actions`) on localhost, in this
    (main) environment."""
    env = dict(
        os.environ,
        SANIC_HOST=settings.action_host,
        PYTHONPATH=str(PROJECT_DIR),
        DATABASE_URL=settings.database_url,
        SEARCH_MIN_SCORE=str(settings.search_min_score),
        # the embedding model's OpenMP threads sleep between searches instead of spinning for the next one
        OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    )
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [sys.executable, "-m", "actions", "--actions", "actions", "--port", str(settings.action_port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )


def start_rasa_server(settings: Settings, model: Path, log_file: Path | None = None) -> subprocess.Popen:
    """The Rasa server on localhost with its HTTP API enabled and protected by the token."""
    endpoints = write_endpoints(settings)
    env = rasa_env()
    env["SANIC_WORKERS"] = str(settings.rasa_workers if settings.redis_url else 1)
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [
            str(rasa_executable()),
            "run",
            "--enable-api",
            "--auth-token",
            settings.resolved_rasa_token(),
            "--interface",
            settings.rasa_host,
            "--port",
            str(settings.rasa_port),
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(PROJECT_DIR / "credentials.yml"),
            "--cors",
            "http://127.0.0.1",
            "--quiet",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )


def start_hub(settings: Settings, log_file: Path | None = None, **env_overrides: str) -> subprocess.Popen:
    """The handoff hub (`python -m handoff serve`) on the same database and Rasa server as `settings`."""
    env = dict(
        os.environ,
        PYTHONPATH=str(PROJECT_DIR),
        DATABASE_URL=settings.database_url,
        RASA_HOST=settings.rasa_host,
        RASA_PORT=str(settings.rasa_port),
        RASA_TOKEN=settings.resolved_rasa_token(),
        HUB_HOST=settings.hub_host,
        HUB_PORT=str(settings.hub_port),
        **env_overrides,
    )
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [sys.executable, "-m", "handoff", "serve"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )


def bootstrap_admin() -> None:
    """Create the hub's first admin if there is no agent yet (`python -m handoff agent bootstrap`)."""
    subprocess.run([sys.executable, "-m", "handoff", "agent", "bootstrap"], cwd=PROJECT_DIR, check=True)


def hub_ready_url(settings: Settings) -> str:
    return f"{settings.hub_url}/healthz"


def wait_until_up(url: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll `url` until it answers 200; returns the seconds it took. Raises if the process dies or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not come up within {timeout:.0f} s")


def rasa_ready_url(settings: Settings) -> str:
    """Rasa's /status answers only when a model is loaded."""
    return f"{settings.rasa_url}/status?token={settings.resolved_rasa_token()}"


def action_ready_url(settings: Settings) -> str:
    return f"http://{settings.action_host}:{settings.action_port}/health"


def stop(*processes: subprocess.Popen) -> None:
    """Terminate processes, killing those that do not stop within 10 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
