"""Reporting: the supervisor's figures, apart from routing (center/queue/).

``stats`` (the live snapshot), ``today`` (today's figures per queue and channel),
``history`` (per hour/day), ``erlang`` (Erlang C staffing advice) and ``simulate`` (the
router driven by simulated calls, checked against Erlang C).
"""
