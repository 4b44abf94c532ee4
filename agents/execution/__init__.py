"""Order execution for an edge agent: paper and live (CCXT) venues, leg-out hedging, plan runner.

Orders, fills, order events (Decimal money) and their validation errors are the SDK's, one vocabulary for the
runner, the paper and live venues and every ``ExecutionAdapter``: ``sdk.adapters.execution``.

Modules (import them directly; this package file stays import-light so ``agents.risk`` and
``agents.persistence`` can use the shared types without import cycles):

- ``plan``: PlanDelta (IR protobuf) -> validated execution legs.
- ``clock``: injectable clocks and a virtual-time scheduler (no sleeping in tests).
- ``book``: the book walk over exact levels (the snapshot is the SDK's ``BookSnapshot``).
- ``events``: ledger-bound events and the sink Protocol.
- ``accounting``: cash / position / realised-PnL bookkeeping (pure).
- ``paper``: the paper venues (IOC book walk, queue-position resting orders, latency; fills on any cost
  curve), SDK ``ExecutionAdapter``s.
- ``client_ids``: venue-safe client order ids derived from idempotency keys.
- ``outbox`` / ``live``: durable outbox and idempotent live execution through CCXT (``CcxtVenue``, the SDK's
  ``ExecutionAdapter`` for every ccxt venue).
- ``legout``: pure leg-out decisions and the monitor that applies them.
- ``runner``: PlanDelta -> risk check -> orders (to each venue's ``ExecutionAdapter``) -> fills -> ledger
  sink and store.
"""
