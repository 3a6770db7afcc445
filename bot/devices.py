"""Device vocabulary: which device category a text talks about, from device words and unambiguous brands."""

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
        lenovo dell hp asus acer msi xps zenbook vivobook inspiron latitude elitebook probook surface""".split(),
}
_WORD = re.compile(r"[a-zäöüß]+")
_LOOKUP = {word: category for category, words in CATEGORY_WORDS.items() for word in words}


def infer_category(text: str) -> str | None:
    """The one device category a text names, or None if it names none or several."""
    found = {_LOOKUP[w] for w in _WORD.findall(text.lower()) if w in _LOOKUP}
    return found.pop() if len(found) == 1 else None
