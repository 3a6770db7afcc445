"""Text analysis for full-text ranking: folding, stemming, German compounds, typos."""

from bot.kb.analysis import Analyzer, fold


def test_umlauts_and_their_ascii_spellings_meet():
    assert fold("lädt", "de") == fold("laedt", "de") == "ladt"
    assert fold("Größe", "de") == "grosse"


def test_english_is_not_folded_like_german():
    assert fold("blue queue", "en") == "blue queue"


def test_german_inflections_share_a_stem():
    analyzer = Analyzer("de")
    assert analyzer.analyze("lädt")[0] == analyzer.analyze("laden")[0] == analyzer.analyze("geladen")[0]


def test_english_morphology_shares_a_stem():
    analyzer = Analyzer("en")
    assert analyzer.analyze("charging")[0] == analyzer.analyze("charges")[0] == analyzer.analyze("charged")[0]


def test_german_compounds_are_split_into_known_parts():
    analyzer = Analyzer("de")
    analyzer.learn(["Die Karte ist voll", "Der Speicher ist voll", "Fehler am Objektiv"])
    assert {"speich", "kart"} <= set(analyzer.analyze("Speicherkarte"))
    assert {"objektiv", "fehl"} <= set(analyzer.analyze("Objektivfehler"))
    assert {"speich", "kart", "fehl"} <= set(analyzer.analyze("Speicherkartenfehler"))


def test_unknown_words_are_not_split():
    analyzer = Analyzer("de")
    analyzer.learn(["Karte"])
    assert analyzer.analyze("Donaudampfschiff") == ["donaudampfschiff"]


def test_typos_are_corrected_to_the_nearest_known_stem():
    analyzer = Analyzer("en")
    analyzer.learn(["the bluetooth headphones", "battery"])
    assert analyzer.correct(analyzer.analyze("blutooth batery")) == analyzer.analyze("bluetooth battery")


def test_short_or_distant_words_are_left_alone():
    analyzer = Analyzer("en")
    analyzer.learn(["battery"])
    assert analyzer.correct(["pizza"]) == ["pizza"]
