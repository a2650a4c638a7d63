"""Knowledge-base tables (filled in by the knowledge-base work)."""
