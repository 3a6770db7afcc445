"""Device vocabulary: a bare device name or a problem description, devices the product does not support, signs
of danger."""

import pytest

from bot.devices import infer_category, mentions_danger, names_an_unsupported_device, names_only_a_device


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


@pytest.mark.parametrize(
    ("text", "unsupported"),
    [
        ("my samsung tv has no sound since yesterday", True),
        ("Unser Fernseher zeigt kein Bild mehr", True),
        ("AirPods keep disconnecting", True),
        ("Meine PS5 geht nicht mehr an", True),
        ("der Akku vom E-Bike lädt nicht", True),
        ("my laptop only plays sound through headphones", False),  # a supported device is named too
        ("Kopfhörer am Handy gehen nicht", False),
        ("the fingerprint scanner stopped working", False),  # part of a phone, not a device of its own
        ("I watch videos and it gets hot", False),
        ("it won't switch on", False),
    ],
)
def test_a_device_the_product_does_not_support_is_recognised_only_when_no_supported_one_is_named(text, unsupported):
    assert names_an_unsupported_device(text) is unsupported


@pytest.mark.parametrize(
    ("text", "danger"),
    [
        ("the back of my phone is bulging a bit", True),
        ("battery looks swollen", True),
        ("es riecht verschmort", True),
        ("Der Akku hat sich aufgebläht", True),
        ("smoke came out of the charging port", True),
        ("my laptop gets really hot when gaming", False),  # the overheating guide's, not an emergency
        ("Das Handy wird heiß beim Laden", False),
        ("clicking noise inside my laptop", False),
        ("my battery burns through its charge in two hours", False),  # a figure of speech, not a fire
        ("Der Akku brennt nach zwei Stunden leer", False),
        ("the flash fires twice", False),
        ("there's a burning smell when it charges", True),
        ("it smells like burnt plastic", True),
        ("the charger caught fire", True),
        ("es riecht nach verbranntem Kabel", True),
    ],
)
def test_signs_of_danger_are_recognised_in_both_languages(text, danger):
    assert mentions_danger(text) is danger


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Handyspeicher ist voll", "phone"),  # a German compound names its device by its first part
        ("Kameraakku hält nicht", "camera"),
        ("Windows Update hängt bei 27%", "notebook"),
        ("ich höre bei Telefonaten nichts", "phone"),
        ("my laptop wifi drops but my phone is fine", None),  # two devices: the text does not decide
        ("it won't turn on", None),
    ],
)
def test_the_device_a_text_names(text, category):
    assert infer_category(text) == category
