"""Durable execution records: orders, fills, positions, per-venue inventory, realised vs predicted PnL.

``store.ExecutionStore`` writes through SQLAlchemy 2 (SQLite by default, PostgreSQL in deployments);
``writer.StoreWriter`` keeps those writes off the hot path (a queue, one writer thread, ``flush()``).
"""
