"""Sign-in limits in Redis, so they hold across every process: refuse before hashing.

Each attempt is counted as a failure *before* the password is checked (a success then
takes its count back). Counting afterwards would let 200 concurrent guesses all pass the
check while none had failed yet, and each would still cost an argon2 run.

Three counters, one atomic script:

- per client address, every account: ``login_ip_limit`` per ``login_window_s`` (password
  spraying; and it bounds the argon2 work one address can cause);
- per account, every address: ``login_account_limit`` per window (a distributed guess);
  set well above what one address can reach, so locking a user out takes many addresses;
- per account *and* address: ``login_free_failures``, then a lock of ``login_lock_s``
  doubling with each further failure up to ``login_lock_max_s``. An attacker hammering
  an account locks only their own address out of it; the user signs in from theirs.

While any applies the answer is 429 with Retry-After, whatever the password: a correct
password during a lock is refused too, or the lock would tell a guesser when they hit.
"""

from __future__ import annotations

import hashlib
import math

from aiohttp import web
from redis.asyncio import Redis

from center.config import Settings
from center.queue.keys import Keys

# A pair's failures are remembered for a day after the last one (a success forgets them).
PAIR_MEMORY_MS = 24 * 3600 * 1000

# KEYS: address, account, pair, lock. ARGV: ip limit, account limit, window ms, free
# failures, lock ms, max lock ms, pair memory ms. Returns 0 (go ahead, attempt counted)
# or the milliseconds to wait. (Redis 6.2: no PEXPIRE NX, so the first INCR sets it.)
_RESERVE = """
local function full(key, limit, window)
  local n = tonumber(redis.call('GET', key) or '0')
  if n < limit then return 0 end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
  return ttl
end
local window = tonumber(ARGV[3])
local wait = math.max(full(KEYS[1], tonumber(ARGV[1]), window),
                      full(KEYS[2], tonumber(ARGV[2]), window),
                      redis.call('PTTL', KEYS[4]))
if wait > 0 then return wait end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], window) end
end
local n = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
local free = tonumber(ARGV[4])
if n >= free then
  local lock = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (n - free))
  redis.call('SET', KEYS[4], n, 'PX', math.max(1, math.floor(lock)))
end
return 0
"""

# A success: the attempt was not a failure after all (never below 0, and never a counter
# recreated without expiry), and the account is clear from this address.
_SUCCEEDED = """
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
redis.call('DEL', KEYS[3], KEYS[4])
return 1
"""


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()[:32]


class LoginLimits:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.keys = keys
        self._reserve = redis.register_script(_RESERVE)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._args = [
            settings.login_ip_limit,
            settings.login_account_limit,
            max(1, int(settings.login_window_s * 1000)),
            settings.login_free_failures,
            max(1, int(settings.login_lock_s * 1000)),
            max(1, int(settings.login_lock_max_s * 1000)),
            PAIR_MEMORY_MS,
        ]

    def keys_for(self, username: str, address: str) -> list[str]:
        # Case-folded: "Alice" and "alice" share a limit, so case does not buy more guesses.
        account = username.strip().casefold()
        pair = _digest(account, address)
        return [
            self.keys.login_address(_digest(address)),
            self.keys.login_account(_digest(account)),
            self.keys.login_pair(pair),
            self.keys.login_lock(pair),
        ]

    async def reserve(self, username: str, address: str) -> int:
        """0: go ahead (the attempt is counted as failed until ``succeeded``); otherwise
        the whole seconds to wait (at least 1)."""
        wait_ms = int(await self._reserve(keys=self.keys_for(username, address), args=self._args))
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0

    async def succeeded(self, username: str, address: str) -> None:
        await self._succeeded(keys=self.keys_for(username, address))


LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)
