"""Shared core of the support bot: settings, database, knowledge base, languages, command line.

This package is imported by the action server and the hub (main environment) and, for the language
detector and the server tuning only (`bot.language`, `bot.rasa_components`, `bot.rasa_server`,
`bot.gc_pauses`), by the Rasa server's own environment; keep this module free of imports.
"""
