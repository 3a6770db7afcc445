"""Language detection of customer messages."""

import pytest

from bot.language import detect_language, resolve_language


@pytest.mark.parametrize(
    "text",
    [
        "Mein Handy lädt nicht mehr",
        "ja, jetzt geht es",
        "hallo",
        "danke schön",
        "Die Kamera zeigt Objektivfehler",
        "ich will mit einem Mitarbeiter sprechen",
    ],
)
def test_german_messages(text):
    assert detect_language(text) == "de"


@pytest.mark.parametrize(
    "text",
    [
        "my phone won't charge",
        "no, still the same",
        "hello",
        "thanks a lot",
        "The camera shows a lens error",
        "I want to talk to a human",
    ],
)
def test_english_messages(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", ["/affirm", "", "Galaxy S21", "ok", "12345", "Pixel 7a", "EOS R6 Mark II"])
def test_unclear_messages_give_no_language(text):
    assert detect_language(text) is None


def test_unclear_message_keeps_the_conversation_language():
    assert resolve_language("Galaxy S21", current="de") == "de"
    assert resolve_language("ok", current=None, hint="de") == "de"
    assert resolve_language("thanks", current="de") == "en"
