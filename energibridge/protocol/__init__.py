"""The federation round protocol between agents and coordinators: what both sides exchange and agree on.

Pure, transport-neutral, imported by both ``agents`` and ``coordinator`` (which never import each other):

- ``contribution``: the vector each agent adds to a round's secure sum, its layout and fixed-point codec;
- ``messages``: the round broadcast and the published round summary;
- ``rounding``: lot rounding toward zero and the residual ``Assignment`` a venue may accept or refuse;
- ``venue``: ``VenueInfo``, the public facts a venue announces when it joins;
- ``wire``: the mapping of all of these onto the EnergiBridge protobuf, validated both ways.

The secure-aggregation primitives the contributions are masked with live in ``energibridge.secagg``.
"""
