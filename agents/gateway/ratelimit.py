"""The control rate limiter, re-exported from ``registry.gateway.ratelimit`` (shared with the coordinator)."""

from registry.gateway.ratelimit import RateLimiter

__all__ = ["RateLimiter"]
