// An independent Merkle Patricia trie root and proof check, to verify the node's roots.
import { keccak256, toRlp, fromRlp, bytesToHex, hexToBytes, concat } from 'viem';

export const EMPTY_ROOT = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421';

function nibbles(bytes) {
  const out = [];
  for (const b of bytes) out.push(b >> 4, b & 15);
  return out;
}

function hexPrefix(path, leaf) {
  const flag = (leaf ? 2 : 0) + (path.length % 2);
  const full = path.length % 2 ? [flag, ...path] : [flag, 0, ...path];
  const bytes = new Uint8Array(full.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (full[2 * i] << 4) | full[2 * i + 1];
  return bytesToHex(bytes);
}

// A child reference: the node itself when its encoding is shorter than 32 bytes, else its hash.
function ref(node) {
  const encoded = toRlp(node);
  return hexToBytes(encoded).length < 32 ? node : keccak256(encoded);
}

function build(items, depth) {
  if (items.length === 1) return [hexPrefix(items[0].path.slice(depth), true), items[0].value];
  let common = 0;
  for (;;) {
    const n = items[0].path[depth + common];
    if (n === undefined || !items.every((it) => it.path[depth + common] === n)) break;
    common++;
  }
  if (common > 0) return [hexPrefix(items[0].path.slice(depth, depth + common), false), ref(build(items, depth + common))];
  const branch = new Array(17).fill('0x');
  for (let n = 0; n < 16; n++) {
    const group = items.filter((it) => it.path[depth] === n);
    if (group.length) branch[n] = ref(build(group, depth + 1));
  }
  const terminal = items.find((it) => it.path.length === depth);
  if (terminal) branch[16] = terminal.value;
  return branch;
}

/** Root of a trie of (key bytes, value hex) pairs. */
export function trieRoot(pairs) {
  if (pairs.length === 0) return EMPTY_ROOT;
  const items = pairs.map(([key, value]) => ({ path: nibbles(key), value }));
  return keccak256(toRlp(build(items, 0)));
}

/** Root of an ordered list (transactions, receipts): key i is rlp(i). */
export function orderedRoot(values) {
  return trieRoot(values.map((v, i) => [hexToBytes(toRlp(i === 0 ? '0x' : bytesToHex(bigEndian(i)))), v]));
}

function bigEndian(n) {
  const out = [];
  while (n > 0) { out.unshift(n & 255); n >>= 8; }
  return new Uint8Array(out);
}

/** Follows a proof from `root` along keccak(key); returns the leaf value (hex) or null when absent. */
export function verifyProof(root, keyBytes, proof) {
  const path = nibbles(hexToBytes(keccak256(keyBytes)));
  let expected = root;
  let depth = 0;
  for (const nodeHex of proof) {
    const encoded = hexToBytes(nodeHex);
    if (encoded.length >= 32 ? keccak256(encoded) !== expected : nodeHex !== expected) {
      throw new Error(`proof node at depth ${depth} does not hash to its reference`);
    }
    const node = fromRlp(nodeHex);
    if (node.length === 17) {
      if (depth === path.length) return node[16] === '0x' ? null : node[16];
      const child = node[path[depth]];
      depth += 1;
      if (child === '0x') return null;
      expected = Array.isArray(child) ? toRlp(child) : child;
    } else {
      const prefix = nibbles(hexToBytes(node[0]));
      const isLeaf = prefix[0] >= 2;
      const rest = prefix.slice(prefix[0] % 2 ? 1 : 2);
      const matches = rest.every((n, i) => path[depth + i] === n);
      if (!matches) return null;
      depth += rest.length;
      if (isLeaf) return depth === path.length ? node[1] : null;
      expected = Array.isArray(node[1]) ? toRlp(node[1]) : node[1];
    }
  }
  throw new Error('proof ended before reaching a leaf');
}

export { concat };
