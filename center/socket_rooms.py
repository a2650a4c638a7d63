"""socket.io's rooms, indexed by socket as well as by room.

python-socketio keeps ``rooms[namespace][room] -> {sid: eio_sid}`` only, so a leaving socket's
rooms are found by walking every room of its namespace (``basic_disconnect`` copies them
all; ``get_rooms`` walks them). Every socket has a room of its own, and conversations and
agents have theirs: with 8,000 sockets held a disconnect walked some 16,000 rooms, a couple
of milliseconds of the event loop each, and a shutdown closing them all was quadratic.
``RoomIndex`` keeps each socket's rooms beside them, updated where the manager changes
membership (``basic_enter_room`` / ``basic_leave_room``, which every other path calls), and
answers those two from it.
"""

from __future__ import annotations

from typing import Any

Key = tuple[str, str]  # (namespace, sid)


class RoomIndex:
    """A mixin for a socket.io manager (before it in the bases)."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[Key, set[Any]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        mine = self._rooms_of.get((namespace, sid))
        if mine is not None:
            mine.discard(room)
            if not mine:
                del self._rooms_of[(namespace, sid)]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        # socket.io's own, but the socket's rooms from the index instead of every room.
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]
