"""Shop matters: orders, deliveries, invoices, refunds, vouchers, shop accounts and advice before buying.

They are questions for the shop's team, not device problems the knowledge base has guides for; the bot cannot see
orders or invoices. The words are phrases a device problem hardly uses ("my order", not "order", which is also
"the order of my photos"; "tracking number", not "tracking", which is also GPS). A text with one of them is read
as a shop matter only when the search, without those phrases, does not confidently pick a guide: "the phone I
ordered won't turn on" is a device problem (actions/troubleshooting.py).
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
    | (?:should|could)\ i\ buy | which\ \w+\ (?:should|to)\ buy | recommend\ (?:a|me)
    # German
    | bestellung\w* | bestellnummer | bestellt | lieferung\w* | liefer(?:zeit|termin|status|bar) | geliefert
    | paket\w* | sendungsverfolgung | sendungsnummer | versand\w* | verschickt | zugestellt
    | (?:noch\ nicht|nie|nicht)\ angekommen | wo\ bleibt
    | rechnung\w* | gutschrift | rückerstattung | erstattung | erstattet | geld\ zurück | gutschein\w* | rabatt\w*
    | kundenkonto | storn\w* | auf\ lager | kaufberatung | (?:soll|sollte)\ ich\ (?:\w+\ )?kaufen | empfehlen\ sie
    )\b""",
    re.VERBOSE,
)


def is_shop_matter(text: str) -> bool:
    """True when a text speaks of an order, a delivery, an invoice, a refund, a shop account or what to buy."""
    return bool(_SHOP_PHRASES.search(text.lower()))


def without_shop_phrases(text: str) -> str:
    """The text (lowercased) without its shop phrases: what is left to search the guides with ("the phone i
    ordered last week won't charge" -> "the phone  last week won't charge"). They are no evidence of a problem."""
    return _SHOP_PHRASES.sub(" ", text.lower())
