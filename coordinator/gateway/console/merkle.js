// RFC 9162 inclusion proofs and C2SP signed checkpoints, verified in the browser (SubtleCrypto).
// Mirrors registry/ledger/merkle.py (root_from_inclusion_proof) and signed_note.py: the page recomputes
// the leaf hash from the entry's bytes and folds the path up to the root the signed checkpoint names, so
// it trusts the log's signature, not the gateway's word.
"use strict";

const enc = new TextEncoder();

function hexToBytes(hex) {
  if (hex.length % 2) throw new Error("hex: odd length");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function b64ToBytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const hashLeaf = (data) => sha256(concat(Uint8Array.of(0), data));
const hashChildren = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// RFC 9162 section 2.1.3.2: the root implied by leaf `index` of a `size`-leaf tree and its proof path.
async function rootFromInclusionProof(index, size, leafHash, proof) {
  if (!(index >= 0 && index < size)) throw new Error(`leaf index ${index} is not below tree size ${size}`);
  let fn = index;
  let sn = size - 1;
  let acc = leafHash;
  for (const sibling of proof) {
    if (sibling.length !== 32) throw new Error("proof: every hash must be 32 bytes");
    if (sn === 0) throw new Error(`proof of ${proof.length} hashes is too long`);
    if (fn % 2 === 1 || fn === sn) {
      acc = await hashChildren(sibling, acc);
      if (fn % 2 === 0) {
        while (fn !== 0 && fn % 2 === 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      acc = await hashChildren(acc, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error(`proof of ${proof.length} hashes is too short`);
  return acc;
}

// A C2SP checkpoint note: "origin\nsize\nbase64(root)\n[ext...]\n\n— name base64(keyid||sig)\n..."
function parseCheckpoint(note) {
  const cut = note.indexOf("\n\n");
  if (cut < 0) throw new Error("checkpoint: no blank line before the signatures");
  const text = note.slice(0, cut + 1);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("checkpoint: expected origin, size and root");
  const signatures = note
    .slice(cut + 2)
    .split("\n")
    .filter((l) => l.startsWith("— "))
    .map((l) => {
      const [name, b64] = l.slice(2).split(" ");
      return { name, bytes: b64ToBytes(b64) };
    });
  return { text, origin: lines[0], size: Number(lines[1]), root: b64ToBytes(lines[2]), signatures };
}

// Verify the note's Ed25519 signature by the log key "<name>+<hex id>+<base64(0x01||key)>".
// Resolves to "verified", "no signature by <name>", or "not supported by this browser".
async function verifyCheckpointSignature(checkpoint, vkey) {
  // Only the first two "+" separate fields: the base64 key may contain "+" itself.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("log key: expected <name>+<hex id>+<base64 key>");
  const [name, idHex, keyB64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  const raw = b64ToBytes(keyB64);
  if (raw[0] !== 1) throw new Error("log key: not an Ed25519 note key");
  const keyId = hexToBytes(idHex);
  const sig = checkpoint.signatures.find((s) => s.name === name && equal(s.bytes.slice(0, 4), keyId));
  if (!sig) return `no signature by ${name}`;
  let key;
  try {
    key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    return err && err.name === "NotSupportedError" ? "not supported by this browser" : `key not usable: ${err}`;
  }
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.bytes.slice(4), enc.encode(checkpoint.text));
  if (!ok) throw new Error("checkpoint signature does not verify for the log key");
  return "verified";
}

// Check a gateway proof answer against a parsed checkpoint; resolves to the recomputed root (hex).
async function verifyInclusion(proof, checkpoint) {
  if (proof.size !== checkpoint.size) throw new Error(`proof is for size ${proof.size}, checkpoint has ${checkpoint.size}`);
  const leafHash = await hashLeaf(hexToBytes(proof.leaf_data));
  if (bytesToHex(leafHash) !== proof.leaf_hash) throw new Error("the entry's bytes do not hash to the proof's leaf");
  const root = await rootFromInclusionProof(proof.index, proof.size, leafHash, proof.path.map(hexToBytes));
  if (!equal(root, checkpoint.root)) {
    throw new Error(`computed root ${bytesToHex(root)} is not the checkpoint's ${bytesToHex(checkpoint.root)}`);
  }
  return bytesToHex(root);
}

window.merkle = { parseCheckpoint, verifyCheckpointSignature, verifyInclusion, rootFromInclusionProof, hashLeaf, bytesToHex };
