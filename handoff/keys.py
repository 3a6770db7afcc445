"""Typed keys of the aiohttp application's state."""

from __future__ import annotations

from aiohttp import web

from bot.settings import Settings
from handoff.hub import Hub
from handoff.telemetry import HubMetrics

SETTINGS = web.AppKey("settings", Settings)
HUB = web.AppKey("hub", Hub)
METRICS = web.AppKey("metrics", HubMetrics)
