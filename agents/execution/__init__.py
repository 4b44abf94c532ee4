"""Order execution for an edge agent: paper and live (CCXT) venues, leg-out hedging, plan runner.

Modules (import them directly; this package file stays import-light so ``agents.risk`` and
``agents.persistence`` can use the shared types without import cycles):

- ``model``: orders, fills, order events (Decimal money), validation errors.
- ``plan``: PlanDelta (IR protobuf) -> validated execution legs.
- ``clock``: injectable clocks and a virtual-time scheduler (no sleeping in tests).
- ``book``: a validated order-book snapshot and book-walk helpers.
- ``events``: ledger-bound events and the sink Protocol.
- ``accounting``: cash / position / realised-PnL bookkeeping (pure).
- ``paper``: the paper venue (IOC book walk, queue-position resting orders, latency).
- ``client_ids``: venue-safe client order ids derived from idempotency keys.
- ``outbox`` / ``live`` / ``ccxt_venue``: durable outbox and idempotent live execution through CCXT.
- ``legout``: pure leg-out decisions and the monitor that applies them.
- ``runner``: PlanDelta -> risk check -> orders -> fills -> ledger sink and store.
"""
