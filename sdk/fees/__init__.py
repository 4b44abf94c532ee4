"""Venue fee schedules in exact decimal arithmetic (:mod:`sdk.fees.kalshi`) and venue book parsing that
belongs with them (:mod:`sdk.fees.kalshi_book`)."""
