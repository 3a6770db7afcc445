"""Device vocabulary: telling a bare device name from a problem description."""

import pytest

from bot.devices import names_only_a_device


@pytest.mark.parametrize(
    "text",
    ["Pixel 7a", "my Galaxy S21", "Es ist eine EOS R6 Mark II", "iPhone 13 Pro Max", "ThinkPad X1", "Laptop", "Kamera"],
)
def test_a_device_name_alone_names_only_a_device(text):
    assert names_only_a_device(text)


@pytest.mark.parametrize(
    "text",
    [
        "Pixel 7a won't charge",
        "Mein Handy lädt nicht",
        "it won't turn on",
        "ok",
        "",
        "hello",
        "my camera shows error 99",
    ],
)
def test_a_problem_or_no_device_is_not_only_a_device(text):
    assert not names_only_a_device(text)


def test_recognised_entities_count_as_device_words_whatever_they_contain():
    text = "I have a Zorblax Quantum"
    assert not names_only_a_device(text)
    assert names_only_a_device(text, ((9, 24),))
