"""Custom Rasa NLU components. Imported only by the Rasa server (its own Python 3.10 environment)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language import SUPPORTED, detect_language


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Adds a `language` entity (de/en) when a message is clearly German or English.

    The `language` slot is filled from it, so the bot answers in the customer's language and follows a
    switch. Unclear messages (button payloads, "ok", a model name) add nothing and the slot keeps its value;
    a `language` in the message metadata (sent by the hub) is used when the text gives no evidence.
    Registered as a featurizer rather than an entity extractor so that NLU evaluation does not count it.
    """

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect_language(text)
            if language is None:
                hinted = (message.get("metadata") or {}).get("language")
                language = hinted if hinted in SUPPORTED else None
            if language is None:
                continue
            entity = {
                "entity": "language",
                "value": language,
                "start": 0,
                "end": len(text),
                "confidence_entity": 1.0,
                "extractor": "LanguageDetector",
            }
            message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages
