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
};

export function vendored(alias) {
  const [, contracts] = VENDORED[alias];
  const pkg = JSON.parse(fs.readFileSync(path.join(modules, alias, 'package.json'), 'utf8'));
  const out = { package: `${pkg.name}@${pkg.version}`, license: pkg.license, contracts: {} };
  for (const [name, fields] of Object.entries(contracts)) {
    const artifact = JSON.parse(fs.readFileSync(path.join(modules, alias, 'artifacts', `${name}.json`), 'utf8'));
    out.contracts[name] = Object.fromEntries(fields.map((f) => [f, artifact[f]]));
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
