"""Shop matters: phrases of orders, deliveries, invoices and buying advice, and what they must not catch."""

import pytest

from bot.shop import is_shop_matter


@pytest.mark.parametrize(
    "text",
    [
        "I placed an order last week and the package never came",
        "Where is my order? It's been 10 days",
        "I need an invoice for my laptop for my tax return",
        "You charged me twice for the camera",
        "When do I get my refund?",
        "The tracking number doesn't work",
        "Which laptop should I buy for photo editing?",
        "Is the Pixel 8 back in stock?",
        "My discount code isn't accepted at checkout",
        "Wo bleibt meine Bestellung?",
        "Ich habe vor zwei Wochen ein Handy bestellt, es ist noch nicht angekommen",
        "Bitte schicken Sie mir die Rechnung noch einmal",
        "Das Paket wurde beschädigt zugestellt",
        "Wann bekomme ich mein Geld zurück?",
        "Ich möchte meine Bestellung stornieren",
        "Welche Kamera soll ich kaufen für Urlaubsfotos?",
        "Mein Gutschein funktioniert nicht",
        "Kann ich mein Kundenkonto löschen?",
        "I can't log in to my account on your shop",
        "Good camera for a beginner under 600 euros?",
        "Welche Kamera für Anfänger bis 600 €?",
        "Ich kann mich im Shop nicht anmelden",
    ],
)
def test_questions_for_the_shop_are_shop_matters(text):
    assert is_shop_matter(text)


@pytest.mark.parametrize(
    "text",
    [
        "My phone won't charge",
        "The order of my photos is mixed up on the SD card",
        "GPS tracking on my phone is way off",
        "Mein Handy lädt nicht mehr",
        "Die Berechnung der Akkulaufzeit stimmt nicht",
        "Das Softwarepaket lässt sich nicht installieren",
        "I lost my receipt, is my camera still under warranty?",
        "NFC payment doesn't work on my phone",
        "My laptop's account password is not accepted",
        "Welche Einstellung für Nachtfotos?",
        "Battery drops from 100 to 20 percent in an hour",
        "Der Akku fällt unter 20 % und das Handy geht aus",
        "",
    ],
)
def test_device_problems_and_warranty_questions_are_not(text):
    assert not is_shop_matter(text)
