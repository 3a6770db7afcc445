"""Language-aware text analysis for full-text ranking: tokens, stems, German compounds, typos.

The analyser turns text into stems the way a search engine's analysis chain does (lowercase, stop words,
stemmer overrides, Snowball stemming, dictionary decompounding, fuzzy correction against the index
vocabulary).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from rapidfuzz import fuzz, process

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = {
    "en": set(
        """a an the and or but if of to in on at by for with from into onto over under about as is are was were be
        been being am do does did doing have has had having i me my mine myself you your yours we our us it its
        this that these those there here what which who whom when where why how can could would should will
        shall may might must just very really so too also then than now still even again any some all no not
        only own same such more most other out up down off just s t don doesn didn isn wasn won t ve ll d m re
        hi hello please thanks thank help hey guys anyone someone something any anything get got gets getting
        im ive dont cant wont""".split()
    ),
    "de": set(
        """der die das den dem des ein eine einer eines einem einen und oder aber wenn weil dass daß zu zum zur im
        in an am auf aus bei mit nach von vor für fur über uber unter um durch gegen ohne bis ist sind war waren
        bin bist sein seine seinen seinem seiner ihr ihre ihren ihrem ich mich mir mein meine meinen meinem meiner
        du dich dir dein deine wir uns unser er sie es man was wer wie wo warum wann hat habe hast haben hatte
        hatten wird werden wurde wurden kann können konnte kann muss müssen soll sollte will wollte auch noch schon
        mal nur sehr so da dann denn doch ja nein nicht kein keine keinen keiner nichts mehr immer wieder jetzt
        hallo hi hey bitte danke guten tag irgendwie einfach total echt gerade seit hilfe""".split()
    ),
}

# Irregular or colloquial forms the Snowball stemmer does not join with their base (Elasticsearch calls
# this a stemmer override). Keys are folded (lowercase, no accents); values are base forms.
STEM_OVERRIDES = {
    "de": {
        "ladt": "laden",
        "lad": "laden",
        "laedt": "laden",
        "geladen": "laden",
        "ladet": "laden",
        "geht": "gehen",
        "ging": "gehen",
        "gegangen": "gehen",
        "geh": "gehen",
        "hangt": "hangen",
        "gehangen": "hangen",
        "haengt": "hangen",
        "fallt": "fallen",
        "gefallen": "fallen",
        "fiel": "fallen",
        "springt": "springen",
        "gesprungen": "springen",
        "nimmt": "nehmen",
        "genommen": "nehmen",
        "gibt": "geben",
        "gegeben": "geben",
        "sieht": "sehen",
        "gesehen": "sehen",
        "halt": "halten",
        "gehalten": "halten",
        "lauft": "laufen",
        "gelaufen": "laufen",
        "verbindet": "verbinden",
        "verbunden": "verbinden",
        "erkennt": "erkennen",
        "erkannt": "erkennen",
        "friert": "frieren",
        "gefroren": "frieren",
        "eingefroren": "frieren",
        "handys": "handy",
        "laptops": "laptop",
        "notebooks": "notebook",
        "fotos": "foto",
        "bilder": "bild",
        "wifi": "wlan",
        "wi": "wlan",
    },
    "en": {
        "won": "will",
        "froze": "freez",
        "frozen": "freez",
        "wi": "wifi",
        "pics": "photo",
        "pic": "photo",
        "pictures": "photo",
        "picture": "photo",
        "photos": "photo",
        "notebook": "laptop",
        "mobile": "phone",
        "cellphone": "phone",
        "smartphone": "phone",
    },
}

_GERMAN_LINKING = ("s", "es", "n", "en", "er", "e")
_STEMMERS = {"en": "english", "de": "german"}


def fold(text: str, language: str = "de") -> str:
    """Lowercase and strip accents and umlauts (ä and ae -> a, ß -> ss) so spelling variants meet."""
    text = text.lower().replace("ß", "ss")
    if language == "de":
        text = text.replace("ae", "ä").replace("oe", "ö").replace("ue", "ü")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMERS[language])


def tokens(text: str, language: str) -> list[str]:
    """Content words of `text` (lowercased, stop words removed), before folding."""
    stop = STOPWORDS[language]
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop and not t.isdigit()]


def stem(word: str, language: str) -> str:
    """Stem one folded word; irregular forms are first replaced by their base form (the overrides)."""
    return _stemmer(language).stemWord(STEM_OVERRIDES[language].get(word, word))


class Analyzer:
    """Stems text for one language; decompounds German words using a vocabulary of known stems."""

    def __init__(self, language: str, vocabulary: Iterable[str] = ()):
        self.language = language
        self.vocabulary: set[str] = set(vocabulary)

    def learn(self, texts: Iterable[str]) -> None:
        """Add the stems of `texts` to the vocabulary used for decompounding and typo correction."""
        for text in texts:
            for word in tokens(text, self.language):
                self.vocabulary.add(stem(fold(word, self.language), self.language))

    def analyze(self, text: str) -> list[str]:
        """Stems of `text`, plus the stems of the parts of German compounds."""
        out: list[str] = []
        for word in tokens(text, self.language):
            folded = fold(word, self.language)
            out.append(stem(folded, self.language))
            if self.language == "de" and len(folded) >= 7:
                out.extend(self._split_compound(folded))
        return out

    def _split_compound(self, word: str, depth: int = 0) -> list[str]:
        """Stems of the known parts of a German compound, longest head first ('speicherkarte' -> speicher, karte)."""
        if depth > 2:
            return []
        for cut in range(3, len(word) - 2):
            head, tail = word[:cut], word[cut:]
            tail_stem = stem(tail, "de")
            if tail_stem not in self.vocabulary or len(tail) < 3:
                continue
            for candidate in (head, *(head[: -len(s)] for s in _GERMAN_LINKING if head.endswith(s))):
                if len(candidate) < 3:
                    continue
                head_stem = stem(candidate, "de")
                if head_stem in self.vocabulary:
                    return [head_stem, tail_stem]
                if len(candidate) >= 7:
                    parts = self._split_compound(candidate, depth + 1)
                    if parts:
                        return [*parts, tail_stem]
        return []

    def correct(self, stems: list[str]) -> list[str]:
        """Replace stems unknown to the vocabulary by their nearest known stem (typos), where one is close."""
        fixed: list[str] = []
        for s in stems:
            if s in self.vocabulary or len(s) < 4:
                fixed.append(s)
                continue
            match = process.extractOne(s, self.vocabulary, scorer=fuzz.ratio, score_cutoff=80)
            fixed.append(match[0] if match else s)
        return fixed
