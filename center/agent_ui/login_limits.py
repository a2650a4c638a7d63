"""Sign-in limits in Redis, so they hold across every process: refuse before hashing.

Three failure counters, kept by one atomic script:

- per client address, every account: ``login_ip_limit`` per ``login_window_s`` (password
  spraying; and it bounds the argon2 work one address can cause);
- per account, every address: ``login_account_limit`` per window (a distributed guess);
  set well above what one address can reach, so locking a user out takes many addresses;
- per account *and* address: ``login_free_failures``, then a lock of ``login_lock_s``
  doubling with each further failure up to ``login_lock_max_s``. An attacker hammering
  an account locks only their own address out of it; the user signs in from theirs.

Attempts still being checked count against the address's and the pair's allowance too
(``busy`` counters): otherwise 200 concurrent guesses would all pass while none had failed
yet, and each would still cost an argon2 run. Such an attempt is told to retry in a second.

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
# An attempt in flight holds its place at most this long (a process may die mid-check).
BUSY_MS = 60_000
INFLIGHT_RETRY_MS = 1_000

# KEYS: address fails, account fails, pair fails, pair lock, address busy, pair busy.
# ARGV: ip limit, account limit, window ms, free failures, busy ms, retry ms.
# Returns 0 (go ahead: the attempt holds a place) or the milliseconds to wait.
_RESERVE = """
local function count(key) return tonumber(redis.call('GET', key) or '0') end
local function full(key, limit, window)
  if count(key) < limit then return 0 end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
  return ttl
end
local ip_limit, free = tonumber(ARGV[1]), tonumber(ARGV[4])
local wait = math.max(full(KEYS[1], ip_limit, ARGV[3]),
                      full(KEYS[2], tonumber(ARGV[2]), ARGV[3]),
                      redis.call('PTTL', KEYS[4]))
if wait > 0 then return wait end
-- Past its free failures a pair gets one attempt at a time between locks.
if count(KEYS[5]) >= ip_limit - count(KEYS[1])
   or count(KEYS[6]) >= math.max(1, free - count(KEYS[3])) then
  return tonumber(ARGV[6])
end
for i = 5, 6 do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[5])
end
return 0
"""

# KEYS as above. ARGV: outcome (1 failed, 0 succeeded, -1 no verdict), window ms, free
# failures, lock ms, max lock ms, pair memory ms. (Redis 6.2: no PEXPIRE NX, so the first
# INCR sets the window; never a DECR that recreates an expired key without expiry.)
_FINISH = """
for i = 5, 6 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
local outcome = tonumber(ARGV[1])
if outcome == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
elseif outcome == 1 then
  for i = 1, 2 do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  end
  local n = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
  local free = tonumber(ARGV[3])
  if n >= free then
    local lock = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (n - free))
    redis.call('SET', KEYS[4], n, 'PX', math.max(1, math.floor(lock)))
  end
end
return 1
"""


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()[:32]


class LoginLimits:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.keys = keys
        self._reserve = redis.register_script(_RESERVE)
        self._finish = redis.register_script(_FINISH)
        window_ms = max(1, int(settings.login_window_s * 1000))
        free = settings.login_free_failures
        self._reserve_args = [
            settings.login_ip_limit,
            settings.login_account_limit,
            window_ms,
            free,
            BUSY_MS,
            INFLIGHT_RETRY_MS,
        ]
        self._finish_args = [
            window_ms,
            free,
            max(1, int(settings.login_lock_s * 1000)),
            max(1, int(settings.login_lock_max_s * 1000)),
            PAIR_MEMORY_MS,
        ]

    def keys_for(self, username: str, address: str) -> list[str]:
        """Address, account and pair failures, the pair's lock, address and pair busy."""
        # Case-folded: "Alice" and "alice" share a limit, so case does not buy more guesses.
        account = username.strip().casefold()
        ip, pair = _digest(address), _digest(account, address)
        return [
            self.keys.login_address(ip),
            self.keys.login_account(_digest(account)),
            self.keys.login_pair(pair),
            self.keys.login_lock(pair),
            self.keys.login_busy("ip", ip),
            self.keys.login_busy("pair", pair),
        ]

    async def reserve(self, username: str, address: str) -> int:
        """0: go ahead, and call ``finish`` after the check whatever happens; otherwise the
        whole seconds to wait (at least 1)."""
        keys = self.keys_for(username, address)
        wait_ms = int(await self._reserve(keys=keys, args=self._reserve_args))
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0

    async def finish(self, username: str, address: str, ok: bool | None) -> None:
        """The reserved attempt's verdict: True signed in, False a failure, None none (an
        error before the password was judged: the place is only given back)."""
        outcome = -1 if ok is None else 0 if ok else 1
        keys = self.keys_for(username, address)
        await self._finish(keys=keys, args=[outcome, *self._finish_args])


LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)
