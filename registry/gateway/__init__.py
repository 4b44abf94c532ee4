"""What the agent's and the coordinator's operator gateways share, without the web stack.

``tokens`` (JWT scopes, issue and verify), ``ratelimit`` (a token bucket per actor) and ``fanout`` (events
pushed to live subscribers without ever blocking the emitter) live here, below both ``agents`` and
``coordinator``, because the two may not import each other; each side keeps its own thin FastAPI shell.
"""
