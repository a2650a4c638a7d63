"""Every Redis key the router uses, built in one place.

All keys of one routing domain share the hash tag ``{<prefix>}``, so each Lua step touches
a single Redis Cluster slot and runs unchanged on a cluster.

    {p}:q:<queue>:<channel>   ZSET  waiting interaction ids; score = priority band + enqueue ms
    {p}:queues                SET   "<queue>:<channel>" pairs that ever held work (for sweeps)
    {p}:i:<id>                HASH  live state of one interaction: state, queue, channel,
                                    score, enq (ms), agent, deadline (ms), esc (ring level)
    {p}:i:<id>:declined       ZSET  agent id -> ms until which it is not offered again
    {p}:a:<agent>             HASH  presence, since (ms), cap:<channel>, load:<channel>,
                                    idle (ms), missed, skills (JSON {name: level})
    {p}:avail:<channel>       ZSET  agents with free capacity on channel; score = idle since ms
    {p}:offers                ZSET  interaction id -> offer deadline ms (swept on expiry)
    {p}:qdefs                 HASH  queue name -> its definition as JSON (definitions.py)
    {p}:wrapups               ZSET  agent id -> ms its wrap-up ends (swept on expiry)
    {p}:conn:<kind>:<owner>   SET   "<instance>|<sid>" of an owner's open sockets (kind: chat
                                    for customers, agent for consoles; center/liveness.py)
    {p}:procs                 SET   instance ids of running processes
    {p}:proc:<instance>       STR   a process's heartbeat; expires unless refreshed
    {p}:proc:<instance>:owners SET  "<kind>:<owner>" with sockets in that process
    {p}:lock:stats            STR   held (SET NX PX) by the one process that computes and
                                    pushes the supervisors' statistics this second
    {p}:lock:reconcile        STR   held by the one process auditing record against live
                                    state this turn (center/interactions/recovery.py)
    {p}:epoch                 STR   set at start and by each audit: gone means Redis lost
                                    its data since, and the audit restores at once
    {p}:missing:<id>          STR   ms the audit first saw an open interaction missing
                                    from Redis (expires unless it stays missing)
    {p}:login:ip:<h>          STR   failed sign-ins from one client address (fixed window)
    {p}:login:acct:<h>        STR   ... of one account from every address (fixed window)
    {p}:login:pair:<h>        STR   failures of one account from one address, and
    {p}:login:lock:<h>        STR   the lock they earned (PX); center/agent_ui/login_limits.py
    {p}:login:busy:<kind>:<h> STR   sign-ins being checked now, per address or pair
                                    (<h>: a digest of the address and/or the username)
    {p}:user:<id>:sockets     SET   "<session key>|<namespace>|<sid>" of a user's console
                                    sockets, to end them at logout (console_sockets.py)

Scripts that must reach per-id keys receive the prefix ``{p}:`` itself as a KEYS entry and
derive those keys from it (as BullMQ does), so the slot is still declared.
"""

from __future__ import annotations

from dataclasses import dataclass

# Score = (PRIORITY_LEVELS - 1 - priority) * BAND + enqueue ms: lower score is served first,
# higher priority first, FIFO inside a priority. A double holds integers exactly to 2**53,
# so 10 bands of 1e13 ms (~317 years) stay exact.
PRIORITY_LEVELS = 10
BAND = 10**13


def queue_score(priority: int, enqueued_ms: int) -> int:
    priority = max(0, min(PRIORITY_LEVELS - 1, priority))
    return (PRIORITY_LEVELS - 1 - priority) * BAND + enqueued_ms


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @property
    def base(self) -> str:
        return "{" + self.prefix + "}:"

    def queue(self, queue: str, channel: str) -> str:
        return f"{self.base}q:{queue}:{channel}"

    @property
    def queues(self) -> str:
        return f"{self.base}queues"

    def interaction(self, interaction_id: int | str) -> str:
        return f"{self.base}i:{interaction_id}"

    def agent(self, agent_id: int | str) -> str:
        return f"{self.base}a:{agent_id}"

    def available(self, channel: str) -> str:
        return f"{self.base}avail:{channel}"

    @property
    def offers(self) -> str:
        return f"{self.base}offers"

    @property
    def queue_defs(self) -> str:
        return f"{self.base}qdefs"

    @property
    def wrapups(self) -> str:
        return f"{self.base}wrapups"

    def connections(self, kind: str, owner_id: int) -> str:
        return f"{self.base}conn:{kind}:{owner_id}"

    @property
    def processes(self) -> str:
        return f"{self.base}procs"

    def process(self, instance: str) -> str:
        return f"{self.base}proc:{instance}"

    def process_owners(self, instance: str) -> str:
        return f"{self.base}proc:{instance}:owners"

    @property
    def epoch(self) -> str:
        return f"{self.base}epoch"

    def missing(self, interaction_id: int) -> str:
        return f"{self.base}missing:{interaction_id}"

    @property
    def reconcile_lock(self) -> str:
        return f"{self.base}lock:reconcile"

    @property
    def stats_lock(self) -> str:
        return f"{self.base}lock:stats"

    def login_address(self, digest: str) -> str:
        return f"{self.base}login:ip:{digest}"

    def login_account(self, digest: str) -> str:
        return f"{self.base}login:acct:{digest}"

    def login_pair(self, digest: str) -> str:
        return f"{self.base}login:pair:{digest}"

    def login_lock(self, digest: str) -> str:
        return f"{self.base}login:lock:{digest}"

    def login_busy(self, kind: str, digest: str) -> str:
        return f"{self.base}login:busy:{kind}:{digest}"

    def user_sockets(self, user_id: int) -> str:
        return f"{self.base}user:{user_id}:sockets"

    @property
    def socketio_channel(self) -> str:
        return f"{self.prefix}:socketio"
