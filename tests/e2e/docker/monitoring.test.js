// The monitoring configuration, checked by Prometheus' own tools in the Prometheus image:
// the scrape config and alert rules load, every alert fires on the series that should raise it
// and only after its `for` (docker/monitoring/alerts.test.yml), and Alertmanager's config is
// valid. The live path (scrape, alert, Alertmanager) is in stack.test.js.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/node.js';
import { PROMETHEUS_STAND_IN, buildStandIn } from './stand-ins.js';

const image = process.env.PROMETHEUS_IMAGE ?? PROMETHEUS_STAND_IN;
const tool = (name, ...args) => execFileSync('docker', ['run', '--rm', '--entrypoint', name,
  '-v', `${path.join(ROOT, 'docker/monitoring')}:/m:ro`, image, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

before(() => {
  if (image === PROMETHEUS_STAND_IN) buildStandIn(image);
});

test('the Prometheus config and its alert rules load', () => {
  const out = tool('promtool', 'check', 'config', '/m/prometheus.yml');
  assert.match(out, /SUCCESS: 10 rules found/);
});

test('every alert fires on its series, after its `for`, and not before', () => {
  assert.match(tool('promtool', 'test', 'rules', '/m/alerts.test.yml'), /SUCCESS/);
});

test('the Alertmanager config is valid', () => {
  assert.match(tool('amtool', 'check-config', '/m/alertmanager.yml'), /SUCCESS/);
});
