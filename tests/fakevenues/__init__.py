"""Loopback fake exchanges that speak each venue's documented websocket and REST protocols (never a real
exchange): ``base.FakeVenue`` holds the market, the matching engine and the fault switches; one module per
venue encodes its protocol."""
