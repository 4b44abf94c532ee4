"""Order execution for an edge agent: paper and live (CCXT) venues, leg-out hedging, plan runner.

Orders, fills, order events (Decimal money) and their validation errors are the SDK's, one vocabulary for the
runner, the paper and live venues and every ``ExecutionAdapter``: ``sdk.adapters.execution``.

Modules (import them directly; this package file stays import-light so ``agents.risk`` and
``agents.persistence`` can use the shared types without import cycles):

- ``plan``: PlanDelta (IR protobuf) -> validated execution legs.
- ``clock``: injectable clocks and a virtual-time scheduler (no sleeping in tests).
- ``book``: a validated order-book snapshot and book-walk helpers.
- ``events``: ledger-bound events and the sink Protocol.
- ``accounting``: cash / position / realised-PnL bookkeeping (pure).
- ``paper``: the paper venue (IOC book walk, queue-position resting orders, latency).
- ``client_ids``: venue-safe client order ids derived from idempotency keys.
- ``outbox`` / ``live``: durable outbox and idempotent live execution through CCXT.
- ``ccxt_adapter``: the live venue behind the SDK's ``ExecutionAdapter`` contract.
- ``legout``: pure leg-out decisions and the monitor that applies them.
- ``runner``: PlanDelta -> risk check -> orders -> fills -> ledger sink and store.
"""
