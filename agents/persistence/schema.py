"""Table definitions. Money and sizes are stored as decimal strings: exact on every backend."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

DEC = sa.String(64)

orders = sa.Table(
    "exec_orders",
    metadata,
    sa.Column("client_order_id", sa.String(128), primary_key=True),
    sa.Column("idempotency_key", sa.String(256), nullable=False),
    sa.Column("plan_id", sa.String(256), nullable=False, index=True),
    sa.Column("venue", sa.String(128), nullable=False),
    sa.Column("instrument", sa.String(128), nullable=False),
    sa.Column("asset", sa.String(64), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("size", DEC, nullable=False),
    sa.Column("limit_price", DEC, nullable=False),
    sa.Column("deadline_ms", sa.BigInteger, nullable=False),
    sa.Column("time_in_force", sa.String(8), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("filled", DEC, nullable=False),
    sa.Column("exchange_order_id", sa.String(128), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

fills = sa.Table(
    "exec_fills",
    metadata,
    sa.Column("fill_id", sa.String(256), primary_key=True),
    sa.Column("client_order_id", sa.String(128), nullable=False, index=True),
    sa.Column("plan_id", sa.String(256), nullable=False, index=True),
    sa.Column("venue", sa.String(128), nullable=False),
    sa.Column("instrument", sa.String(128), nullable=False),
    sa.Column("asset", sa.String(64), nullable=False),
    sa.Column("quote", sa.String(64), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("price", DEC, nullable=False),
    sa.Column("size", DEC, nullable=False),
    sa.Column("fee", DEC, nullable=False),
    sa.Column("liquidity", sa.String(8), nullable=False),
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
)

positions = sa.Table(
    "exec_positions",
    metadata,
    sa.Column("venue", sa.String(128), primary_key=True),
    sa.Column("asset", sa.String(64), primary_key=True),
    sa.Column("quantity", DEC, nullable=False),
    sa.Column("cost", DEC, nullable=False),
    sa.Column("realised", DEC, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

inventory = sa.Table(
    "exec_inventory",
    metadata,
    sa.Column("venue", sa.String(128), primary_key=True),
    sa.Column("asset", sa.String(64), primary_key=True),
    sa.Column("amount", DEC, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

plan_pnl = sa.Table(
    "exec_plan_pnl",
    metadata,
    sa.Column("plan_id", sa.String(256), primary_key=True),
    sa.Column("predicted", DEC, nullable=False),
    sa.Column("realised", DEC, nullable=False),
    sa.Column("fees", DEC, nullable=False),
    sa.Column("fills", sa.Integer, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

plans = sa.Table(
    "exec_plans",
    metadata,
    sa.Column("plan_id", sa.String(256), primary_key=True),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("venue", sa.String(128), nullable=False, index=True),
    sa.Column("plan_digest", sa.String(128), nullable=False),
    sa.Column("predicted_cash", DEC, nullable=False),
    sa.Column("predicted_profit", DEC, nullable=False),
    sa.Column("marks", sa.Text, nullable=False),  # JSON: asset -> valuation price
    sa.Column("planned", sa.Text, nullable=False),  # JSON: asset -> signed planned quantity
    sa.Column("status", sa.String(32), nullable=False),  # "open" until its outcome is final
    sa.Column("realised_profit", DEC, nullable=False),
    sa.Column("reported", sa.Boolean, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

residuals = sa.Table(
    "exec_residuals",
    metadata,
    sa.Column("plan_id", sa.String(256), primary_key=True),
    sa.Column("asset", sa.String(64), primary_key=True),
    sa.Column("venue", sa.String(128), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("size", DEC, nullable=False),
    sa.Column("exclude_venues", sa.Text, nullable=False),  # comma-separated
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open | taken | closed
    sa.Column("ts_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)
