"""`python -m bot eval nlu`: intent and entity F1 per language on held-out NLU test files.

Runs `rasa test nlu` with the trained model on each file (tests/eval/nlu_test_<lang>.yml, never used for
training) and prints the weighted intent F1 and the micro entity F1 of the DIET extractor.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot import runtime
from bot.settings import PROJECT_DIR, VAR_DIR, get_settings

INTENT_TARGET, ENTITY_TARGET = 0.95, 0.90


def entity_f1(report: dict) -> tuple[float, int]:
    """Micro-averaged F1 over the real entity labels (not 'no_entity') of a Rasa entity report."""
    tp = fp = fn = 0.0
    support = 0
    for label, row in report.items():
        if label in ("no_entity", "accuracy") or "avg" in label or not isinstance(row, dict):
            continue
        n = row["support"]
        recall, precision = row["recall"], row["precision"]
        true_positives = recall * n
        tp += true_positives
        fn += n - true_positives
        fp += true_positives / precision - true_positives if precision > 0 else 0.0
        support += n
    if tp == 0:
        return 0.0, support
    return 2 * tp / (2 * tp + fp + fn), support


def run(files: list[Path], console: Console | None = None) -> bool:
    """Evaluate every file; True when all meet the targets."""
    console = console or Console()
    model = runtime.model_path(get_settings())
    table = Table(title=f"NLU on held-out files (model {model.name})")
    for col in ("file", "examples", "intent F1 (weighted)", "entity F1 (micro)", "entities"):
        table.add_column(col)
    ok = True
    for file in files:
        out = VAR_DIR / "results" / f"nlu-{file.stem}"
        subprocess.run(
            [
                str(runtime.rasa_executable()),
                "test",
                "nlu",
                "--nlu",
                str(file),
                "--model",
                str(model),
                "--out",
                str(out),
            ],
            cwd=PROJECT_DIR,
            env=runtime.rasa_env(),
            check=True,
            capture_output=True,
        )
        intents = json.loads((out / "intent_report.json").read_text())
        entities_file = out / "DIETClassifier_report.json"
        entities = json.loads(entities_file.read_text()) if entities_file.exists() else {}
        intent_score = intents["weighted avg"]["f1-score"]
        entity_score, entity_count = entity_f1(entities)
        ok &= intent_score >= INTENT_TARGET and entity_score >= ENTITY_TARGET
        table.add_row(
            file.name,
            str(intents["weighted avg"]["support"]),
            f"{intent_score:.3f}",
            f"{entity_score:.3f}",
            str(entity_count),
        )
        errors = out / "intent_errors.json"
        if errors.exists():
            for e in json.loads(errors.read_text())[:40]:
                console.print(
                    f"[dim]  {file.stem}: {e['text']!r} expected {e['intent']}, "
                    f"got {e['intent_prediction']['name']} ({e['intent_prediction']['confidence']:.2f})[/]"
                )
    console.print(table)
    console.print(
        f"targets: intent F1 >= {INTENT_TARGET}, entity F1 >= {ENTITY_TARGET}: "
        f"{'[green]met' if ok else '[red]not met'}[/]"
    )
    return ok
