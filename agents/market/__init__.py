"""Market sources: where an agent's curves come from (live websocket, seeded simulator)."""
