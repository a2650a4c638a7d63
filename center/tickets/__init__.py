"""Tickets: one per customer problem, holding interactions of any channel, with SLAs."""
