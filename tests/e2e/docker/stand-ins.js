// Images built here from Debian's packages in place of official ones no registry serves here
// (docker/stand-ins/): same interface as far as the stack uses it.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/node.js';

export const PROMETHEUS_STAND_IN = 'andechain/test-prometheus:local';
export const CADDY_STAND_IN = 'andechain/test-caddy:local';
const DIRS = {
  'andechain/test-redis:local': 'redis',
  'andechain/test-postgres:local': 'postgres',
  [PROMETHEUS_STAND_IN]: 'prometheus',
  [CADDY_STAND_IN]: 'caddy',
};

export function buildStandIn(image) {
  execFileSync('docker', ['build', '--quiet', '-t', image, path.join(ROOT, 'docker/stand-ins', DIRS[image])], { stdio: ['ignore', 'ignore', 'pipe'] });
}
