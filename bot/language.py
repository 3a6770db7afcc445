"""Which language (German or English) a customer message is written in.

Pure Python without dependencies: the Rasa server's environment imports it too (bot.rasa_components).
A short or mixed message that gives no clear evidence returns None, so the conversation keeps its language.
"""

from __future__ import annotations

import re

SUPPORTED = ("en", "de")
DEFAULT = "en"

_WORD = re.compile(r"\b[a-zäöüß]+\b")  # whole words only: the "a" in "Pixel 7a" is no English

# Frequent function words and support vocabulary that are typical of one language and rare in the other.
_MARKERS = {
    "de": set(
        """ich mein meine meinem meinen meiner mich mir du dein sie ihr wir uns und oder aber nicht kein keine
        ist sind war hat habe haben wird werden kann können geht gehts geht's mehr noch schon auch sehr bitte
        danke vielen dank hallo moin servus tschüss tschüs tschau grüezi guten morgen abend tag ja nein nee jo
        doch mal jetzt immer wieder was wie warum wo wer wann weil wenn dass das der die dem den des ein eine
        einen einem mit von zu zum zur beim vom im am auf aus bei nach für über unter seit ohne gar nichts
        handy akku lädt laden ladegerät kamera bildschirm display geht funktioniert kaputt hilfe mitarbeiter
        mensch menschen sprechen leider hat's klappt geklappt gut super toll schlecht neu starten anfangen
        es gibt läuft startet schaltet ein aus an hab isch net ned halt eben gerade grad echt total wlan
        speicherkarte objektiv fehler laptop rechner stimmt okay passt genau richtig falsch sterne""".split()
    ),
    "en": set(
        """i my me mine you your we our they it is are was were be been has have had will would can could
        should not no yes yeah yep nope and or but the a an of to in on at for with from this that what how
        why where who when please thanks thank hello hi hey bye goodbye cheers morning evening phone charge
        charging battery screen camera laptop works working worked broken help person human agent talk speak
        still same didn't doesn't don't won't can't isn't it's i'm that's fixed great good bad again start
        over keeps stopped turn turns on off anymore any some just really stars star okay fine done sure""".split()
    ),
}
_GERMAN_LETTERS = set("äöüß")


def detect_language(text: str) -> str | None:
    """'de' or 'en' when the text clearly is one of them, else None."""
    lowered = text.lower()
    if not lowered.strip() or lowered.lstrip().startswith("/"):
        return None
    words = _WORD.findall(lowered)
    if not words:
        return None
    de = sum(1 for w in words if w in _MARKERS["de"]) + 2 * sum(1 for ch in lowered if ch in _GERMAN_LETTERS)
    en = sum(1 for w in words if w in _MARKERS["en"])
    de += sum(0.5 for w in words if w.endswith(("ung", "keit", "heit", "lich", "chen", "sch")) and len(w) > 5)
    en += sum(0.5 for w in words if w.endswith(("ing", "tion", "ness", "ly")) and len(w) > 4)
    if de == en:
        return None
    return "de" if de > en else "en"


def resolve_language(text: str, current: str | None = None, hint: str | None = None) -> str:
    """The language to answer in: the message's own if clear, else the conversation's, else the hint."""
    detected = detect_language(text)
    if detected:
        return detected
    for candidate in (current, hint):
        if candidate in SUPPORTED:
            return candidate
    return DEFAULT
