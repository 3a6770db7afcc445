"""Device vocabulary: which device category a text talks about, and whether a text names only a device."""

from __future__ import annotations

import re

# Words (lowercase, as typed) that name a category or a product line/brand that only makes that category.
CATEGORY_WORDS = {
    "phone": """phone phones smartphone smartphones mobile cellphone cell handy handys telefon smartfon natel iphone
        galaxy pixel redmi xiaomi oneplus motorola moto nokia fairphone huawei honor oppo vivo realme poco""".split(),
    "camera": """camera cameras cam kamera kameras digicam digitalkamera spiegelreflex spiegelreflexkamera
        systemkamera fotoapparat dslr dslm mirrorless canon nikon fujifilm fuji gopro leica lumix olympus
        pentax ricoh eos alpha powershot coolpix""".split(),
    "notebook": """notebook notebooks laptop laptops macbook thinkpad ideapad chromebook ultrabook klapprechner
        lenovo dell hp asus acer msi xps zenbook vivobook inspiron latitude elitebook probook surface windows
        macos""".split(),
}
# German compounds start with the device: "Handyspeicher", "Kameraakku", "Laptopdisplay", "Telefonat".
_COMPOUND_HEADS = {
    "handy": "phone",
    "smartphone": "phone",
    "telefon": "phone",
    "kamera": "camera",
    "laptop": "notebook",
    "notebook": "notebook",
}
CATEGORIES = tuple(CATEGORY_WORDS)  # the device categories the product supports: ("phone", "camera", "notebook")
# Devices the product does not support, named by words that mean nothing else (not "watch", "switch" or "box",
# which are also verbs and nouns of supported problems). A text that names one of these and none of the
# supported devices gets an honest "not my field" instead of the nearest guide (a TV's "no sound" is not a
# notebook's). Tablets are left out: phone guides mostly fit them.
UNSUPPORTED_WORDS = """tv tvs television fernseher fernsehgerät smarttv beamer projector projektor printer printers
    drucker headphones headphone earbuds earphones airpods headset kopfhörer ohrhörer smartwatch
    smartwatches fitnesstracker fitbit playstation xbox nintendo konsole spielkonsole ps4 ps5 ebike e-bike
    pedelec fridge kühlschrank dishwasher spülmaschine geschirrspüler waschmaschine vacuum staubsauger
    saugroboter soundbar alexa""".split()
_UNSUPPORTED = set(UNSUPPORTED_WORDS)
_WORD = re.compile(r"[a-zäöüß]+")
_DEVICE_WORD = re.compile(r"[a-zäöüß0-9]+(?:-[a-zäöüß]+)?")  # also "ps5", "e-bike"
_LOOKUP = {word: category for category, words in CATEGORY_WORDS.items() for word in words}


def category_of(word: str) -> str | None:
    """The device category a lowercase word names (a compound by its first part), or None."""
    if word in _LOOKUP:
        return _LOOKUP[word]
    return next((category for head, category in _COMPOUND_HEADS.items() if word.startswith(head)), None)


def infer_category(text: str) -> str | None:
    """The one device category a text names, or None if it names none or several."""
    found = {c for w in _WORD.findall(text.lower()) if (c := category_of(w))}
    return found.pop() if len(found) == 1 else None


def names_an_unsupported_device(text: str) -> bool:
    """True when a text names a device the product does not support and no device it does ("my TV has no
    sound"; not "my laptop's sound goes to my headphones")."""
    words = _DEVICE_WORD.findall(text.lower())
    return any(w in _UNSUPPORTED for w in words) and not any(category_of(w) for w in words)


# Words that can stand beside a device name without saying anything about a problem ("my Pixel 7a", "es ist
# eine EOS R6 Mark II"), and the suffixes of product names.
_FILLER = """my mine our the a an it its it's this that is i have got use using own
    mein meine meinen meinem ich habe hab nutze benutze es ist das der die den ein eine einen dies diese
    model modell gerät device""".split()
_MODEL_SUFFIXES = "mark ii iii iv v pro max plus ultra mini lite air neo fe se note edge".split()
_TOKEN = re.compile(r"[\wäöüß'’-]+")


def names_only_a_device(text: str, entity_spans: tuple[tuple[int, int], ...] = ()) -> bool:
    """True when a text names a device and nothing else ("Pixel 7a", "my Galaxy S21", "Es ist eine EOS R6"):
    it says which device, not what is wrong with it. `entity_spans` (start, end) are parts the NLU already
    recognised as device entities; they count as device words whatever they contain."""
    for start, end in sorted(entity_spans, reverse=True):
        text = f"{text[:start]} __device__ {text[end:]}"
    named = False
    for token in _TOKEN.findall(text.lower()):
        if token == "__device__" or token in _LOOKUP or any(ch.isdigit() for ch in token):
            named = True
        elif token not in _FILLER and token not in _MODEL_SUFFIXES:
            return False
    return named


# Word beginnings that say a device may be dangerous: swelling, smoke, a burnt smell, melting, sparks, fire. A
# description with one of them goes to the safety guidance whenever the search lists it among its candidates,
# even if a harmless guide scored higher ("bulging a bit and gets warm" is a swollen battery, not overheating).
# Not among them: "hot"/"heiß" (the overheating guide's), "burning"/"brennt" and "fires" alone (a battery "burns
# through" its charge or "brennt leer", a flash "fires"); the phrases below catch the dangerous uses.
_DANGER_STEMS = tuple(
    """swollen swell bulg puff bloat smok scorch melt spark flame explod burnt
    aufgebläht gebläht bläht aufgequollen quillt gewölbt wölbt rauch qualm verbrannt brandgeruch verschmort
    schmort geschmolzen schmilzt funken feuer flamme explodiert""".split()
)
_DANGER_PHRASES = re.compile(
    r"burning (smell|plastic|odou?r)|smell\w* (of |like )?burn|caught fire|on fire|burned my|brennt (es|was|etwas)"
    r"|riecht (nach )?(verbrannt|brand|angebrannt|verschmort)"
)


def mentions_danger(text: str) -> bool:
    """True when a text describes a sign of danger (a swollen battery, smoke, a burning smell, sparks...)."""
    lowered = text.lower()
    return any(w.startswith(_DANGER_STEMS) for w in _DEVICE_WORD.findall(lowered)) or bool(
        _DANGER_PHRASES.search(lowered)
    )
