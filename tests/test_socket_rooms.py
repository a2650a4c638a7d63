"""The manager's room index gives socket.io's own answers: the same rooms after any mix of
joins, leaves, closes and disconnects, and each socket's rooms, without walking them all."""

from __future__ import annotations

import random

import socketio

from center.socket_rooms import RoomIndex


class Indexed(RoomIndex, socketio.AsyncManager):
    pass


def _connect(m: socketio.AsyncManager, ns: str, sid: str) -> None:
    # (What pre_connect does: the namespace's None room maps sid -> eio sid, and the
    # socket's own room.)
    m.basic_enter_room(sid, ns, None, eio_sid=f"e{sid}")
    m.basic_enter_room(sid, ns, sid, eio_sid=f"e{sid}")


def _rooms(m: socketio.AsyncManager) -> dict[str, dict[object, dict[str, str]]]:
    return {ns: {r: dict(b) for r, b in rooms.items()} for ns, rooms in m.rooms.items()}


def test_random_membership_changes_leave_the_same_rooms_as_socketio() -> None:
    rng = random.Random(7)
    plain, indexed = socketio.AsyncManager(), Indexed()
    connected: dict[str, set[str]] = {"/chat": set(), "/agent": set()}
    for step in range(4000):
        ns = rng.choice(list(connected))
        op = rng.random()
        sids = sorted(connected[ns])
        if op < 0.3 or not sids:
            sid = f"s{step}"
            for m in (plain, indexed):
                _connect(m, ns, sid)
            connected[ns].add(sid)
        elif op < 0.6:
            sid, room = rng.choice(sids), f"room{rng.randrange(20)}"
            for m in (plain, indexed):
                m.basic_enter_room(sid, ns, room)
        elif op < 0.75:
            sid, room = rng.choice(sids), f"room{rng.randrange(20)}"
            for m in (plain, indexed):
                m.basic_leave_room(sid, ns, room)
        elif op < 0.8:
            room = f"room{rng.randrange(20)}"
            for m in (plain, indexed):
                m.basic_close_room(room, ns)
        else:
            sid = rng.choice(sids)
            for m in (plain, indexed):
                m.basic_disconnect(sid, ns)
            connected[ns].discard(sid)
        if step % 97 == 0:
            assert _rooms(indexed) == _rooms(plain)
    assert _rooms(indexed) == _rooms(plain)
    for ns, sids in connected.items():
        for sid in sids:
            assert sorted(indexed.get_rooms(sid, ns), key=str) == sorted(
                plain.get_rooms(sid, ns), key=str
            )
    # Every socket disconnected: nothing is left, in the rooms or in the index.
    for ns, sids in connected.items():
        for sid in sids:
            plain.basic_disconnect(sid, ns)
            indexed.basic_disconnect(sid, ns)
    assert _rooms(indexed) == _rooms(plain) == {}
    assert indexed._rooms_of == {}
