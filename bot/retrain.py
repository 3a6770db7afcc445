"""Background retrain with a gated model swap: validate, train, test, then swap the running Rasa server's model.

After an editor changes training data (NLU examples, rules, test stories), `RetrainJob` takes a snapshot of the
training inputs and runs four stages; the first three are subprocesses, the last uses Rasa's HTTP API:

1. **validating**: `bot.validation.run_all` on the snapshot (the checks of `python -m bot validate`, including
   `rasa data validate --fail-on-warnings`), or Rasa's validator alone where that package is missing.
2. **training**: `rasa train` into `models/candidate-<timestamp>.tar.gz`, cheapest way first: a normal
   training with Rasa's training cache (`.rasa/cache` of the project, shared with `python -m bot
   train`), which restores every component whose inputs did not change, e.g. all but the RulePolicy after a
   rule change (~15 s). As soon as Rasa starts training the DIET classifier (the NLU data changed), that run
   is stopped and the model the server runs now is fine-tuned instead for a fifth of the configured epochs
   (`--finetune --epoch-fraction 0.2`); where Rasa refuses to fine-tune (new intents, entities or actions, a
   changed config) it trains from scratch. Only test stories changed: nothing is trained, the running model
   is tested against them.
3. **testing**: `rasa test core --fail-on-prediction-errors` with the candidate on the test stories (both
   languages). Rasa's story test predicts actions without running them, so no action server is involved.
4. **swapping**: the candidate becomes `models/support-<fingerprint>.tar.gz` (the name `python -m bot run`
   starts when the project's data are those of the snapshot), the server loads it (`PUT /model`), and the job
   checks that `GET /status` names it and `POST /model/parse` answers. If any of that fails, the server is
   given its previous model back. The server loads the new model in a worker thread and keeps answering with
   the current one meanwhile (bot/rasa_server.py; ~20 s, see BENCHMARKS.md); `before_swap` lets the owner
   pick the moment. With several Rasa workers
   (`RASA_WORKERS` > 1) `PUT /model` would reach one of them only: the job stops with the tested model in
   place for the next start of the Rasa server.

Any failure ends the job `failed` with the stage and the last lines of output, and the running server keeps the
model it had. Progress is observable through `RetrainJob.status` (a frozen `RetrainStatus`) or a callback.

`Retrainer` runs one job at a time for the service that owns it (the hub): a request while a job runs is
coalesced into one follow-up run that starts when the current one ends and snapshots the data as they are then,
so the latest data always win and no request is lost. Separate processes (the hub and `python -m bot retrain`)
take turns through a lock file in the models folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import importlib.util
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import httpx

from bot import runtime
from bot.settings import PROJECT_DIR, VAR_DIR, Settings

FINETUNE_EPOCH_FRACTION = 0.2  # of config.yml's DIET epochs; measured in BENCHMARKS.md ("Knowledge loop")
TAIL_LINES = 40
STAGE_TIMEOUT_S = {"validating": 600, "training": 3600, "testing": 1200, "swapping": 600}
PARSE_PROBE = "hello"
# copied into the snapshot: what the model is trained from, what validation reads, the test stories
SNAPSHOT_DIRS = ("data", "tests/stories")
_EPOCHS = re.compile(r"Epochs:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")
# a component that fine-tuning would speed up is about to be trained: the cache did not have it
_TRAINS_NEURAL = re.compile(r"Starting to train component '(DIETClassifier|TEDPolicy|ResponseSelector)'")
_ABORTED = -2
_PYTHON_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning")
_PROGRESS_BAR = re.compile(r"^\s*(Processed \w+|Progress):|\d+%\|.*\|")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VALIDATE = (
    "import sys; from pathlib import Path; from bot.validation import run_all; "
    "problems = run_all(Path(sys.argv[1])); print(*problems, sep='\\n'); sys.exit(1 if problems else 0)"
)


class Stage(StrEnum):
    """Where a job is. `done`, `failed` and `cancelled` are final."""

    QUEUED = "queued"
    VALIDATING = "validating"
    TRAINING = "training"
    TESTING = "testing"
    SWAPPING = "swapping"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


STAGES = (Stage.VALIDATING, Stage.TRAINING, Stage.TESTING, Stage.SWAPPING)
FINAL = frozenset({Stage.DONE, Stage.FAILED, Stage.CANCELLED})
# share of the whole job per stage, for the overall percentage (typical durations, see BENCHMARKS.md)
_WEIGHT = {Stage.VALIDATING: 5.0, Stage.TRAINING: 60.0, Stage.TESTING: 20.0, Stage.SWAPPING: 15.0}


@dataclasses.dataclass(frozen=True)
class RetrainStatus:
    """A snapshot of one job, safe to hand to other tasks and to serialise (`as_dict`)."""

    job_id: str
    reason: str
    stage: Stage
    message: str
    started_at: datetime  # wall clock (UTC) when the job was created
    elapsed_s: float  # since started_at (until the end for a finished job)
    stage_elapsed_s: float  # in the current stage
    percent: float  # estimate for the whole job, 0-100, never decreasing
    stage_percent: float | None  # within the stage where Rasa reports it (training: DIET epochs), else None
    stage_seconds: dict[str, float]  # time of each stage that ran so far (a copy)
    failed_stage: Stage | None = None  # with stage == failed (or cancelled): where it stopped
    output_tail: tuple[str, ...] = ()  # last lines of the stage's output (on failure: what went wrong)
    model: str | None = None  # file name of the new model (candidate, then the promoted name)
    previous_model: str | None = None  # the server's model when the job started
    training_mode: str | None = None  # "cached", "finetune", "full" or "existing" (a model for these data exists)
    pending: bool = False  # set by Retrainer: another run is queued after this one

    @property
    def finished(self) -> bool:
        return self.stage in FINAL

    def as_dict(self) -> dict:
        """JSON-ready form (datetimes as ISO 8601, stages as strings)."""
        data = dataclasses.asdict(self)
        data.update(
            stage=str(self.stage),
            failed_stage=str(self.failed_stage) if self.failed_stage else None,
            started_at=self.started_at.isoformat(),
            output_tail=list(self.output_tail),
            finished=self.finished,
        )
        return data


ProgressCallback = Callable[[RetrainStatus], None]
BeforeSwap = Callable[[RetrainStatus], Awaitable[None]]


class StageFailed(Exception):
    """A stage did not pass; the message says why (the output tail is in the status)."""


class RetrainJob:
    """One validate -> train -> test -> swap run against the Rasa server of `settings`.

    `await job.run()` returns the final status and never raises for a failed stage; cancelling the task that
    runs it stops the running subprocess, removes the candidate model and leaves the server as it was (a swap
    already under way is completed or rolled back first), then re-raises `CancelledError`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        project_dir: Path = PROJECT_DIR,
        stories_dir: Path | None = None,
        reason: str = "",
        finetune: bool = True,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
        before_swap: BeforeSwap | None = None,
        work_root: Path | None = None,
    ) -> None:
        """`project_dir` holds config.yml, domain.yml and data/ (the project itself, or a copy in tests);
        `stories_dir` the test stories (default `<project_dir>/tests/stories`). `finetune=False` always trains
        from scratch; `force` retrains even if the server already runs the model for these data.
        `before_swap` is awaited once the new model passed the tests, right before the server loads it (~20 s,
        during which the current model keeps answering, more slowly): the owner may wait for a quiet moment."""
        self.settings = settings
        self.project_dir = project_dir
        self.stories_dir = stories_dir or project_dir / "tests" / "stories"
        self.reason = reason
        self.finetune = finetune
        self.force = force
        self.on_progress = on_progress
        self.before_swap = before_swap
        self.work_root = work_root or VAR_DIR / "retrain"
        self.job_id = uuid.uuid4().hex[:12]
        self._started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._stage = Stage.QUEUED
        self._stage_t0 = self._t0
        self._stage_seconds: dict[str, float] = {}
        self._message = "waiting to start"
        self._stage_percent: float | None = None
        self._percent = 0.0
        self._failed_stage: Stage | None = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._model: str | None = None
        self._previous: str | None = None
        self._mode: str | None = None
        self._in_warning = False

    # -- observing ---------------------------------------------------------------------------------------
    @property
    def status(self) -> RetrainStatus:
        now = self._t_end if self._t_end is not None else time.monotonic()
        return RetrainStatus(
            job_id=self.job_id,
            reason=self.reason,
            stage=self._stage,
            message=self._message,
            started_at=self._started_at,
            elapsed_s=round(now - self._t0, 3),
            stage_elapsed_s=round(now - self._stage_t0, 3),
            percent=round(self._percent, 1),
            stage_percent=None if self._stage_percent is None else round(self._stage_percent, 1),
            stage_seconds=dict(self._stage_seconds),
            failed_stage=self._failed_stage,
            output_tail=tuple(self._tail),
            model=self._model,
            previous_model=self._previous,
            training_mode=self._mode,
        )

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.status)

    def _enter(self, stage: Stage, message: str) -> None:
        now = time.monotonic()
        if self._stage in STAGES:
            self._stage_seconds[str(self._stage)] = round(now - self._stage_t0, 3)
        if stage in STAGES:
            done = sum(_WEIGHT[s] for s in STAGES[: STAGES.index(stage)])
            self._percent = max(self._percent, done)
            self._tail.clear()
        elif stage == Stage.DONE:
            self._percent = 100.0
        self._stage, self._stage_t0, self._message, self._stage_percent = stage, now, message, None
        if stage in FINAL:
            self._t_end = now
        self._notify()

    def _say(self, message: str) -> None:
        self._message = message
        self._notify()

    def _progress(self, stage_percent: float, message: str) -> None:
        self._stage_percent = stage_percent
        if self._stage in STAGES:
            done = sum(_WEIGHT[s] for s in STAGES[: STAGES.index(self._stage)])
            self._percent = max(self._percent, done + _WEIGHT[self._stage] * stage_percent / 100)
        self._message = message
        self._notify()

    # -- running -----------------------------------------------------------------------------------------
    async def run(self) -> RetrainStatus:
        """Run every stage; returns the final status (done, or failed with the stage and output)."""
        self.work_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"job-{self.job_id}-", dir=self.work_root))
        candidate: Path | None = None
        lock: int | None = None
        try:
            lock = await self._lock()
            snapshot = self._snapshot(work / "project")
            final = runtime.model_path(self.settings, root=snapshot)
            async with self._client() as client:
                self._enter(Stage.VALIDATING, "checking the Rasa server and the data")
                current = await self._current_model(client)
                self._previous = current.name if current else None
                unchanged = current is not None and current.name == final.name and not self.force
                await self._validate(snapshot)

                self._enter(Stage.TRAINING, "training")
                if final.exists() and not self.force:
                    candidate, self._mode = final, "existing"
                    self._say(f"a model for these data exists already: {final.name}")
                else:
                    candidate = await self._train(snapshot, current)
                self._model = candidate.name

                self._enter(Stage.TESTING, "running the test stories against the new model")
                await self._test(snapshot, candidate, work / "results")
                if unchanged:
                    candidate = None
                    self._enter(Stage.DONE, f"the server already runs the model for these data ({final.name})")
                    return self.status

                self._enter(Stage.SWAPPING, "loading the new model into the Rasa server")
                if self.settings.redis_url and self.settings.rasa_workers > 1:
                    os.replace(candidate, final)
                    candidate, self._model = None, final.name
                    raise StageFailed(
                        f"the server runs {self.settings.rasa_workers} workers and PUT /model reaches only one; "
                        f"the tested model is {final.name}: restart the Rasa server to load it"
                    )
                if self.before_swap is not None:
                    await self.before_swap(self.status)
                await self._swap_shielded(client, candidate, final, current)
                candidate = None  # promoted: it is the server's model now
                self._model = final.name
                self._prune(keep={final.name, self._previous or ""})
            self._enter(Stage.DONE, f"the Rasa server runs {final.name}")
        except StageFailed as exc:
            self._failed_stage = self._stage
            self._enter(Stage.FAILED, f"{self._failed_stage}: {exc}")
        except asyncio.CancelledError:
            if self._stage not in FINAL:
                self._failed_stage = self._stage
                self._enter(Stage.CANCELLED, f"cancelled during {self._failed_stage}")
            raise
        except Exception as exc:  # noqa: BLE001 - any other error ends the job as failed, with its text
            self._failed_stage = self._stage if self._stage in STAGES else Stage.VALIDATING
            self._tail.append(f"{exc.__class__.__name__}: {exc}")
            self._enter(Stage.FAILED, f"{self._failed_stage}: unexpected {exc.__class__.__name__}: {exc}")
        finally:
            if candidate is not None and candidate.name.startswith("candidate-"):
                candidate.unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
            if lock is not None:
                os.close(lock)  # releases the flock
        return self.status

    async def _lock(self) -> int:
        """Take the models folder's retrain lock (one job at a time across processes), waiting for it."""
        self.settings.models_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.settings.models_dir / ".retrain.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            announced = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if not announced:
                        self._say("waiting for another retrain (other process) to finish")
                        announced = True
                    await asyncio.sleep(1.0)
        except BaseException:
            os.close(fd)
            raise

    def _snapshot(self, target: Path) -> Path:
        """Copy the training inputs, the rest of data/ (validation reads it) and the test stories to `target`,
        so that edits made while the job runs go into the next run, not half into this one."""
        target.mkdir(parents=True)
        for entry in dict.fromkeys([*runtime.TRAINING_INPUTS, *SNAPSHOT_DIRS]):
            source = (self.stories_dir if entry == "tests/stories" else self.project_dir / entry).resolve()
            if not source.exists() and entry.startswith("bot/"):
                source = PROJECT_DIR / entry  # code of the custom components: the project's own
            if not source.exists():
                continue
            destination = target / entry
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, dirs_exist_ok=True)
            else:
                shutil.copy2(source, destination)
        return target

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.rasa_url,
            params={"token": self.settings.resolved_rasa_token()},
            timeout=httpx.Timeout(30, read=STAGE_TIMEOUT_S["swapping"]),
        )

    async def _current_model(self, client: httpx.AsyncClient) -> Path | None:
        """The model file the server runs (in the models folder), None if it is not there."""
        try:
            response = await client.get("/status", timeout=10)
        except httpx.HTTPError as exc:
            raise StageFailed(f"the Rasa server at {self.settings.rasa_url} is not reachable ({exc!r})") from exc
        if response.status_code != 200:
            raise StageFailed(f"the Rasa server's /status answered {response.status_code}: {response.text[:200]}")
        name = response.json().get("model_file") or ""
        path = self.settings.models_dir / name
        return path if name and path.is_file() else None

    async def _validate(self, snapshot: Path) -> None:
        if importlib.util.find_spec("bot.validation") is not None:
            self._say("python -m bot validate (includes rasa data validate --fail-on-warnings)")
            command = [sys.executable, "-c", _VALIDATE, str(snapshot)]
            env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR))
            code = await self._run(command, cwd=PROJECT_DIR, env=env, label=f"python -m bot validate ({snapshot})")
        else:
            self._say("rasa data validate --fail-on-warnings")
            data = [d for d in ("data/nlu", "data/rules", "data/stories") if (snapshot / d).exists()]
            command = [str(runtime.rasa_executable()), "data", "validate", "--fail-on-warnings"]
            command += ["--config", "config.yml", "--domain", "domain.yml", "--data", *data]
            code = await self._run(command, cwd=snapshot, env=_rasa_env())
        if code != 0:
            raise StageFailed("the data have problems (see the output)")

    async def _train(self, snapshot: Path, current: Path | None) -> Path:
        name = f"candidate-{datetime.now(UTC):%Y%m%d-%H%M%S}-{self.job_id[:6]}"
        candidate = self.settings.models_dir / f"{name}.tar.gz"
        base = runtime.train_command(self.settings.models_dir, "--fixed-model-name", name, root=snapshot)
        if self.finetune and current is not None:
            self._mode = "cached"
            self._say("training what changed (the rest comes from Rasa's cache)")
            started = time.monotonic()
            code = await self._run(base, cwd=snapshot, env=_rasa_env(), stop_on=_TRAINS_NEURAL)
            if code == 0 and candidate.is_file():
                return candidate
            candidate.unlink(missing_ok=True)
            if code == _ABORTED:
                seconds = time.monotonic() - started
                self._tail.append(f"the NLU data changed (found out in {seconds:.0f} s): fine-tuning instead")
            self._mode = "finetune"
            self._say(f"fine-tuning {current.name} ({FINETUNE_EPOCH_FRACTION:.0%} of the epochs)")
            finetune = ["--finetune", str(current), "--epoch-fraction", str(FINETUNE_EPOCH_FRACTION)]
            if await self._run([*base, *finetune], cwd=snapshot, env=_rasa_env()) == 0 and candidate.is_file():
                return candidate
            candidate.unlink(missing_ok=True)
            self._tail.append("fine-tuning was not possible; training from scratch")
        self._mode = "full"
        self._say("training from scratch (unchanged components come from Rasa's cache)")
        if await self._run(base, cwd=snapshot, env=_rasa_env()) != 0 or not candidate.is_file():
            candidate.unlink(missing_ok=True)
            raise StageFailed("rasa train failed (see the output)")
        return candidate

    async def _test(self, snapshot: Path, candidate: Path, out: Path) -> None:
        command = [str(runtime.rasa_executable()), "test", "core", "--model", str(candidate)]
        command += ["--stories", "tests/stories", "--fail-on-prediction-errors", "--out", str(out)]
        code = await self._run(command, cwd=snapshot, env=_rasa_env())
        if code == 0:
            return
        # --fail-on-prediction-errors stops at the first wrong prediction and prints that story
        story = next((line.split(":", 1)[1].strip() for line in self._tail if "- story:" in line), None)
        wrong = next((line.strip() for line in self._tail if "# predicted:" in line), None)
        if story:
            raise StageFailed(f"test story '{story}' failed" + (f" at `{wrong}`" if wrong else ""))
        raise StageFailed("rasa test failed (see the output)")

    async def _swap_shielded(
        self, client: httpx.AsyncClient, candidate: Path, final: Path, current: Path | None
    ) -> None:
        """The swap runs to its end (or rollback) even if the job is cancelled meanwhile."""
        task = asyncio.ensure_future(self._swap(client, candidate, final, current))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task
            if task.done() and not task.cancelled() and task.exception() is None:
                self._model = final.name
                self._enter(Stage.DONE, f"the Rasa server runs {final.name} (the job was cancelled after the swap)")
            raise

    async def _swap(self, client: httpx.AsyncClient, candidate: Path, final: Path, current: Path | None) -> None:
        replaced = None
        if candidate != final:  # promote: the name `python -m bot run` starts for these data
            if final.exists():
                replaced = final.with_name(final.name + ".replaced")
                os.replace(final, replaced)
            os.replace(candidate, final)
        try:
            await self._load(client, final)
        except StageFailed as exc:
            self._tail.append(f"swap failed: {exc}")
            if replaced is not None:
                os.replace(replaced, final)
            elif candidate != final:
                final.unlink(missing_ok=True)
            await self._roll_back(client, current)
            raise
        if replaced is not None:
            replaced.unlink(missing_ok=True)

    async def _load(self, client: httpx.AsyncClient, model: Path) -> None:
        """PUT /model, then check that /status names the model and /model/parse answers."""
        self._say(f"PUT /model {model.name}")
        try:
            response = await client.put("/model", json={"model_file": str(model.resolve())})
            if response.status_code != 204:
                raise StageFailed(f"PUT /model answered {response.status_code}: {response.text[:300]}")
            self._say("checking the server's model")
            status = await client.get("/status", timeout=10)
            served = status.json().get("model_file") if status.status_code == 200 else None
            if served != model.name:
                raise StageFailed(f"the server reports model {served!r} instead of {model.name}")
            parsed = await client.post("/model/parse", json={"text": PARSE_PROBE}, timeout=30)
            if parsed.status_code != 200 or not (parsed.json().get("intent") or {}).get("name"):
                raise StageFailed(f"POST /model/parse answered {parsed.status_code}: {parsed.text[:300]}")
        except httpx.HTTPError as exc:
            raise StageFailed(f"the Rasa server did not answer: {exc!r}") from exc

    async def _roll_back(self, client: httpx.AsyncClient, previous: Path | None) -> None:
        """Give the server its previous model back if it no longer runs it."""
        if previous is None:
            return
        try:
            status = await client.get("/status", timeout=10)
            if status.status_code == 200 and status.json().get("model_file") == previous.name:
                return
            await client.put("/model", json={"model_file": str(previous.resolve())})
            self._tail.append(f"rolled back to {previous.name}")
        except httpx.HTTPError as exc:
            self._tail.append(f"rollback to {previous.name} failed: {exc!r}")

    def _prune(self, keep: set[str], newest: int = 3) -> None:
        """Delete older `support-*` models, keeping the `newest` ones and `keep` (rollback needs the previous)."""
        models = sorted(
            self.settings.models_dir.glob("support-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for path in models[newest:]:
            if path.name not in keep:
                path.unlink(missing_ok=True)

    async def _run(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        label: str = "",
        stop_on: re.Pattern[str] | None = None,
    ) -> int:
        """Run `command` in its own process group, feeding its output to the tail and the epoch progress;
        returns the exit code, or `_ABORTED` when a line matched `stop_on`. Kills the whole group then, on
        cancellation or when the stage's time is up (-1)."""
        self._tail.append("$ " + (label or " ".join([Path(command[0]).name, *command[1:]])))
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(STAGE_TIMEOUT_S[str(self._stage)]):
                if await self._read(process.stdout, stop_on):
                    return _ABORTED
                return await process.wait()
        except TimeoutError:
            self._tail.append(f"timed out after {STAGE_TIMEOUT_S[str(self._stage)]} s")
            return -1
        finally:
            if process.returncode is None:
                await _kill(process)

    async def _read(self, stream: asyncio.StreamReader | None, stop_on: re.Pattern[str] | None) -> bool:
        """Consume the output until it ends (False) or a line matches `stop_on` (True)."""
        buffer = ""
        while stream is not None and (chunk := await stream.read(8192)):
            buffer += chunk.decode(errors="replace")
            *lines, buffer = re.split(r"[\r\n]", buffer)
            for line in lines:
                line = _ANSI.sub("", line).rstrip()
                self._line(line)
                if stop_on is not None and stop_on.search(line):
                    return True
        if buffer.strip():
            self._line(_ANSI.sub("", buffer).rstrip())
        return False

    def _line(self, line: str) -> None:
        epochs = _EPOCHS.search(line)
        if epochs:
            done, total = int(epochs.group(1)), int(epochs.group(2))
            if total and (self._stage_percent is None or done * 100 / total > self._stage_percent):
                self._progress(done * 100 / total, f"{self._mode or 'training'}: epoch {done}/{total}")
            return
        if _PYTHON_WARNING.match(line):  # library deprecation noise: the warning and its indented source line
            self._in_warning = True
            return
        if self._in_warning and (line[:1].isspace() or line.startswith("Implementing implicit namespace")):
            return
        self._in_warning = False
        if line.strip() and not _PROGRESS_BAR.search(line):
            self._tail.append(line)


def _rasa_env() -> dict[str, str]:
    """Rasa's environment with the project's training cache, wherever the snapshot lives."""
    env = runtime.rasa_env()
    env.setdefault("RASA_CACHE_DIRECTORY", str(PROJECT_DIR / ".rasa" / "cache"))
    return env


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the process group, SIGKILL after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), 10)
            return
        except TimeoutError:
            continue


class Retrainer:
    """One retrain at a time for the service that owns it; requests during a run are coalesced.

    `request()` starts a job, or, while one runs, marks one follow-up run (any number of requests collapse into
    it) that starts when the current job ends and snapshots the data as they are then: the latest data win.
    Observe progress with `status` (polling) or `on_progress` (called in the event loop on every change,
    with `pending` set); `close()` cancels a running job and drops the follow-up.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        project_dir: Path = PROJECT_DIR,
        stories_dir: Path | None = None,
        finetune: bool = True,
        on_progress: ProgressCallback | None = None,
        before_swap: BeforeSwap | None = None,
        work_root: Path | None = None,
    ) -> None:
        """The arguments are those of `RetrainJob`, used for every job."""
        self.settings = settings
        self.project_dir = project_dir
        self.stories_dir = stories_dir
        self.finetune = finetune
        self.on_progress = on_progress
        self.before_swap = before_swap
        self.work_root = work_root
        self._job: RetrainJob | None = None
        self._task: asyncio.Task | None = None
        self._pending: list[str] = []

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def status(self) -> RetrainStatus | None:
        """The running job's status, else the last job's; None before the first request."""
        if self._job is None:
            return None
        return dataclasses.replace(self._job.status, pending=bool(self._pending))

    def request(self, reason: str = "") -> RetrainStatus:
        """Ask for a retrain (call it from the event loop). Returns the status of the job that will include
        the current data: the new job, or the running one with `pending=True`."""
        if self.busy:
            self._pending.append(reason)
            status = self.status
            assert status is not None
            self._emit(status)
            return status
        self._job = self._new_job(reason)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"retrain-{self._job.job_id}")
        return self.status  # type: ignore[return-value]

    async def wait(self) -> RetrainStatus | None:
        """Wait until no job runs or is pending; returns the last job's final status."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})
        return self.status

    async def close(self) -> None:
        """Cancel the running job (its cleanup completes first) and forget pending requests."""
        self._pending.clear()
        if self.busy:
            assert self._task is not None
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _new_job(self, reason: str) -> RetrainJob:
        return RetrainJob(
            self.settings,
            project_dir=self.project_dir,
            stories_dir=self.stories_dir,
            reason=reason,
            finetune=self.finetune,
            on_progress=lambda status: self._emit(dataclasses.replace(status, pending=bool(self._pending))),
            before_swap=self.before_swap,
            work_root=self.work_root,
        )

    def _emit(self, status: RetrainStatus) -> None:
        if self.on_progress is not None:
            self.on_progress(status)

    async def _loop(self) -> None:
        assert self._job is not None
        while True:
            await self._job.run()
            if not self._pending:
                return
            reasons, self._pending = self._pending, []
            self._job = self._new_job("; ".join(dict.fromkeys(r for r in reasons if r)) or "coalesced")
