"""Pure, deterministic federation core: round state machines that only ever see aggregates."""
