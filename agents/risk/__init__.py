"""Risk gates for an edge agent: a pure ``RiskManager.check(plan, market, now) -> Decision`` plus the
observations (fills, PnL, prices, margin) that move its state. Every gate that acts emits a ``RiskEvent``.

Modules: ``limits`` (configuration), ``events`` (RiskEvent, Decision, Refusal), ``market`` (what the gates
read about books), ``stats`` (rolling windows), ``manager`` (the gates), ``unwind`` (ADL / margin unwinds).
"""
