// Debian's PostgreSQL, started for a test on a free loopback port with a data dir of its own.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, tempDir, waitFor } from './node.js';

function bin(name) {
  const root = '/usr/lib/postgresql';
  const version = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  return path.join(root, version, 'bin', name);
}

// PostgreSQL refuses to run as root: as root, run it as the postgres user.
const asRoot = process.getuid?.() === 0;
const wrap = (cmd, args) => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);

export async function startPostgres() {
  const port = await freePort();
  const dir = tempDir('ande-pg-');
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  execFileSync(...wrap(bin('initdb'), ['-D', data, '-U', 'ande', '--auth=trust', '-E', 'UTF8']), { stdio: 'ignore' });
  const child = spawn(...wrap(bin('postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']), { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(() => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), { what: 'postgres' });
  await waitFor(() => {
    try {
      execFileSync(...wrap(bin('createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'ande', 'explorer']), { stdio: 'ignore' });
      return true;
    } catch { return false; }
  }, { what: 'createdb' });
  return { url: `postgres://ande@127.0.0.1:${port}/explorer`, stop: async () => { child.kill('SIGTERM'); await exited; } };
}
