"""Solana chain state for pool venues: account layouts, JSON-RPC + ``accountSubscribe``, pool feeds.

- :mod:`agents.solana.accounts` decodes Whirlpool, TickArray, Raydium CPMM and AMM v4 accounts (pure);
- :mod:`agents.solana.rpc` reads accounts over HTTP JSON-RPC and follows them over the websocket API
  (requests and responses through ``solders``' RPC types);
- :mod:`agents.solana.pool_feed` keeps a Whirlpool's or a Raydium CPMM pool's accounts current and rebuilds
  its cost curve when they change, reporting how stale it is;
- :mod:`agents.solana.jupiter` turns Jupiter quotes at several sizes into a fallback curve (routes pinned) and
  switches a venue to it while its pool feed is stale;
- :mod:`agents.solana.paper` fills on paper at the pool's exact math within a slippage cap, with the network
  fee (base + priority fee from a percentile of recent fees).
- :mod:`agents.solana.settings` is the ``[solana]`` table of a pool venue's config (pydantic, keys named);
- :mod:`agents.solana.market` is a pool venue's market source (``PoolMarket``): the feed's curve while fresh,
  the Jupiter curve (or a pause) while stale, ``quote_source`` events on each switch;
- :mod:`agents.solana.venue` is its paper execution adapter (``PoolPaperVenue``) and the agent's composition
  (``build_pool_agent``, which ``agents.service`` calls for ``orca-whirlpool`` and ``raydium-cpmm``).

A fake RPC + websocket node playing recorded accounts and a fake Jupiter quote server live in
``tests/fakevenues/solana.py`` and ``tests/fakevenues/jupiter.py``.

Transactions are not built or sent: live execution waits for a signer design (see issue 15).
"""
