"""EnergiBridge: the versioned IR every ArbSphere component speaks.

``energibridge.models`` mirrors each protobuf message as an immutable pydantic model; ``convert`` turns
them into protobuf and back without loss; ``canonical`` gives the deterministic bytes that are hashed and
signed; ``version`` negotiates IR versions between peers.
"""

from energibridge.canonical import canonical_bytes, digest
from energibridge.convert import decode, decode_json, encode, encode_json, from_proto, to_proto
from energibridge.errors import EnergiBridgeError, IncompatibleVersion, IrValidationError, MessageTooLarge
from energibridge.version import CURRENT, IrVersion, negotiate

__all__ = [
    "CURRENT",
    "EnergiBridgeError",
    "IncompatibleVersion",
    "IrValidationError",
    "IrVersion",
    "MessageTooLarge",
    "canonical_bytes",
    "decode",
    "decode_json",
    "digest",
    "encode",
    "encode_json",
    "from_proto",
    "negotiate",
    "to_proto",
]
