"""Shop matters: orders, deliveries, invoices, refunds, vouchers, shop accounts and advice before buying.

They are questions for the shop's team, not device problems the knowledge base has guides for; the bot cannot see
orders or invoices. The words are phrases a device problem hardly uses ("my order", not "order", which is also
"the order of my photos"; "tracking number", not "tracking", which is also GPS). A text with one of them is read
as a shop matter only when the search, without those phrases, does not confidently pick a guide: "the phone I
ordered won't turn on" is a device problem (actions/troubleshooting.py). Asking what to buy always is one.
"""

from __future__ import annotations

import re

_SHOP_PHRASES = re.compile(
    r"""\b(?:
    # English
      my\ orders? | orders?\ (?:number|status|confirmation|id) | placed\ (?:an|my|the)\ order
    | cancel(?:l?ed)?\ (?:my|the|an)\ order | i\ ordered | (?:have|has|had)\ ordered
    | deliver(?:y|ies|ed) | package | parcel | shipment | shipping | tracking\ number
    | track\ (?:my|the)\ (?:order|package|parcel)
    | (?:hasn'?t|has\ not|haven'?t|never|not\ yet)\ (?:arrived|come|came|been\ delivered)
    | invoices? | billing | bill\ me | refunds? | refunded | charged\ (?:me\ )?twice | double\ charged | money\ back
    | vouchers? | coupons?
    | (?:promo|discount)\ codes? | (?:customer|shop)\ account | (?:out\ of|in|back\ in)\ stock
    | recommend\ (?:a|me)
    | (?:on|in|at|from)\ your\ (?:online\ )?(?:shop|store|website) | (?:shop|store)\ (?:account|login)
    # German
    | bestellung\w* | bestellnummer | bestellt | lieferung\w* | liefer(?:zeit|termin|status|bar) | geliefert
    | paket\w* | sendungsverfolgung | sendungsnummer | versand\w* | verschickt | zugestellt
    | (?:noch\ nicht|nie|nicht)\ angekommen | wo\ bleibt
    | rechnung\w* | gutschrift | rückerstattung | erstattung | erstattet | geld\ zurück | gutschein\w* | rabatt\w*
    | kundenkonto | storn\w* | auf\ lager | empfehlen\ sie
    | (?:im|in\ ihrem|in\ eurem|bei\ ihnen\ im)\ (?:online-?)?shop
    )\b""",
    re.VERBOSE,
)
# Asking what to buy: a budget ("under 600 euros", "bis 600 €"; not "under 20 %") or the question itself.
_BUYING = re.compile(
    r"\b(?:under|up to|below|max|bis|unter|maximal|höchstens) [$€]?\d+ ?(?:€|\$|euros?|eur\b|dollars?)"
    r"|\b(?:should|could) i buy\b|\bwhich \w+ (?:should i|to) buy\b|\bbudget\b|\bkaufberatung\b"
    r"|\b(?:soll|sollte) ich (?:\w+ )?kaufen\b"
)


def is_shop_matter(text: str) -> bool:
    """True when a text speaks of an order, a delivery, an invoice, a refund, a shop account or what to buy."""
    return bool(_SHOP_PHRASES.search(text.lower())) or asks_what_to_buy(text)


def asks_what_to_buy(text: str) -> bool:
    """True when a text asks for advice before buying: never a device problem, whatever guide the search finds
    (a first version let "Welche Kamera für Anfänger bis 600 €?" start the camera firmware guide)."""
    return bool(_BUYING.search(text.lower()))


def without_shop_phrases(text: str) -> str:
    """The text (lowercased) without its shop phrases: what is left to search the guides with ("the phone i
    ordered last week won't charge" -> "the phone  last week won't charge"). They are no evidence of a problem."""
    return _BUYING.sub(" ", _SHOP_PHRASES.sub(" ", text.lower()))
