"""Venue fee schedules in exact decimal arithmetic (:mod:`sdk.fees.kalshi`, :mod:`sdk.fees.polymarket`) and
venue book parsing that belongs with them (:mod:`sdk.fees.kalshi_book`)."""
