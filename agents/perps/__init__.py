"""Perpetual futures held over time: positions across sessions and the funding they pay or receive."""
