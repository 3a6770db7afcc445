"""Rasa action server: thin actions over the `bot` services, one module per topic."""
