"""Typed application state (``web.AppKey``): one key per shared resource, no string keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import socketio
from aiohttp import web
from redis.asyncio import Redis

from center.config import Settings
from center.records.db import Database

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
REDIS = web.AppKey("redis", Redis)
SIO = web.AppKey("sio", socketio.AsyncServer)
ROUTER = web.AppKey("router", "Router")
SERVICE = web.AppKey("service", "InteractionService")
STATS = web.AppKey("stats", "StatsService")  # the supervisor's live statistics
# The queue configuration file as loaded at start (the seed; the database overrides queues).
QUEUE_CONFIG = web.AppKey("queue_config", "QueueConfig")
