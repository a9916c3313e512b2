// Writes contracts/vendor/*.json: the bytecode the stack deploys or injects, taken unchanged
// from the audited npm packages pinned in tests/e2e/package.json. Run it after changing those
// pins: `node scripts/vendor-contracts.mjs`; tests/e2e/vendor.test.js fails while they differ.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const modules = path.join(root, 'tests/e2e/node_modules');

// package alias in tests/e2e -> [output file, { contract: fields to keep }]
export const VENDORED = {
  'aa-contracts-v07': ['account-abstraction-0.7.0.json', {
    EntryPoint: ['bytecode'],
    EntryPointSimulations: ['deployedBytecode'],
    SimpleAccountFactory: ['bytecode'],
    VerifyingPaymaster: ['bytecode'],
  }],
  'aa-contracts-v08': ['account-abstraction-0.8.0.json', {
    EntryPoint: ['bytecode'],
    EntryPointSimulations: ['deployedBytecode'],
    SimpleAccountFactory: ['bytecode'],
  }],
  '@hyperlane-xyz/core': ['hyperlane-core-12.1.0.json', {
    Mailbox: ['bytecode'],
    MerkleTreeHook: ['bytecode'],
    PausableHook: ['bytecode'],
    ValidatorAnnounce: ['bytecode'],
    StaticMessageIdMultisigIsmFactory: ['bytecode'],
    HypNative: ['bytecode'],
    HypERC20: ['bytecode'],
  }],
};

// Hyperlane ships its artifacts as typechain factories (JS importing ethers, which the tests do
// not install): the ABI and bytecode literals are read out of the factory's source.
const HYPERLANE_FACTORIES = path.join(modules, '@hyperlane-xyz/core/dist/typechain/factories/contracts');

function findFactory(dir, name) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findFactory(full, name);
      if (found) return found;
    } else if (entry.name === `${name}__factory.js`) {
      return full;
    }
  }
  return null;
}

/** A Hyperlane contract's `{ abi, bytecode }` from @hyperlane-xyz/core. */
export function hyperlane(name) {
  const file = findFactory(HYPERLANE_FACTORIES, name);
  if (!file) throw new Error(`@hyperlane-xyz/core has no factory for ${name}`);
  const source = fs.readFileSync(file, 'utf8');
  const abi = source.match(/^const _abi = (\[[\s\S]*?\n\]);$/m);
  const bytecode = source.match(/^const _bytecode = "(0x[0-9a-f]*)";$/m);
  if (!abi) throw new Error(`${file}: no ABI literal`);
  // The literal is the package's own generated code, a plain array of objects.
  return { abi: new Function(`return ${abi[1]}`)(), bytecode: bytecode?.[1] };
}

function artifact(alias, name) {
  if (alias === '@hyperlane-xyz/core') return hyperlane(name);
  return JSON.parse(fs.readFileSync(path.join(modules, alias, 'artifacts', `${name}.json`), 'utf8'));
}

export function vendored(alias) {
  const [, contracts] = VENDORED[alias];
  const pkg = JSON.parse(fs.readFileSync(path.join(modules, alias, 'package.json'), 'utf8'));
  const out = { package: `${pkg.name}@${pkg.version}`, license: pkg.license, contracts: {} };
  for (const [name, fields] of Object.entries(contracts)) {
    const found = artifact(alias, name);
    out.contracts[name] = Object.fromEntries(fields.map((f) => [f, found[f]]));
  }
  return JSON.stringify(out, null, 1) + '\n';
}

export const vendorFile = (alias) => path.join(root, 'contracts/vendor', VENDORED[alias][0]);

if (process.argv[1] === import.meta.filename) {
  for (const alias of Object.keys(VENDORED)) {
    fs.writeFileSync(vendorFile(alias), vendored(alias));
    console.log(`wrote ${path.relative(root, vendorFile(alias))}`);
  }
}
