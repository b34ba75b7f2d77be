#!/usr/bin/env node
// Hosts in network namespaces on one bridge, for trying placestore across a network by hand (root,
// iproute2 and nftables). `placestore check --nemesis partition-...` makes its own; this is for people.
//
//   node scripts/netns-hosts.mjs up 5 [NAME]       make 5 hosts (prints each namespace and address)
//   node scripts/netns-hosts.mjs run NAME I CMD..  run CMD in host I, e.g. a place listening on its address
//   node scripts/netns-hosts.mjs cut NAME I J      drop what host I sends to host J (one way)
//   node scripts/netns-hosts.mjs heal NAME I J     undo that
//   node scripts/netns-hosts.mjs down NAME         remove every namespace and interface of the set
//
// Example: up 3 demo; then `run demo 0 node dist/cli/main.js place --listen 10.x.y.10:7400 --min-places 3`
// and so on; clients in the root namespace reach every host.
import { execFileSync, spawnSync } from 'node:child_process';
import { NetnsHosts } from '../dist/cluster/NetnsHosts.js';

const [cmd, ...args] = process.argv.slice(2);
const usage =
  'usage: netns-hosts.mjs up N [NAME] | run NAME I CMD... | cut NAME I J | heal NAME I J | down NAME';

function die(msg) {
  process.stderr.write(`netns-hosts: ${msg}\n`);
  process.exit(2);
}

const why = NetnsHosts.unavailable();
if (why !== null) die(why);
const ns = (name, i) => `${name}h${i}`;
const index = (s) =>
  /^\d+$/.test(s ?? '') ? Number(s) : die(`host index must be a number, got '${s}'\n${usage}`);

function nft(name, i, drops) {
  const rules = drops.map((ip) => `    ip daddr ${ip} drop`).join('\n');
  const text = `table inet placestore {}\ndelete table inet placestore\ntable inet placestore {\n  chain out {\n    type filter hook output priority 0; policy accept;\n${rules}\n  }\n}\n`;
  execFileSync('ip', ['netns', 'exec', ns(name, i), 'nft', '-f', '-'], { input: text });
}

function drops(name, i) {
  const out = spawnSync('ip', ['netns', 'exec', ns(name, i), 'nft', 'list', 'table', 'inet', 'placestore']);
  return [...out.stdout.toString().matchAll(/ip daddr (\S+) drop/g)].map((m) => m[1]);
}

function ipOf(name, i) {
  const out = execFileSync('ip', ['-n', ns(name, i), '-4', '-o', 'addr', 'show', 'eth0']).toString();
  const m = /inet (\S+)\//.exec(out);
  return m ? m[1] : die(`host ${i} of '${name}' not found`);
}

if (cmd === 'up') {
  const n = index(args[0]);
  const hosts = await NetnsHosts.create(n, args[1]);
  process.stdout.write(`root namespace: ${hosts.rootIp}\n`);
  for (const [i, h] of hosts.hosts.entries())
    process.stdout.write(`host ${i}: namespace ${h.ns}, address ${h.ip}\n`);
} else if (cmd === 'run') {
  const [name, i, ...rest] = args;
  if (rest.length === 0) die(usage);
  const r = spawnSync('ip', ['netns', 'exec', ns(name, index(i)), ...rest], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else if (cmd === 'cut' || cmd === 'heal') {
  const [name, i, j] = args;
  const from = index(i);
  const to = ipOf(name, index(j));
  const now = drops(name, from).filter((ip) => ip !== to);
  nft(name, from, cmd === 'cut' ? [...now, to] : now);
  process.stdout.write(`${cmd === 'cut' ? 'cut' : 'healed'}: host ${from} -> ${to}\n`);
} else if (cmd === 'down') {
  const [name] = args;
  if (!name) die(usage);
  const list = execFileSync('ip', ['netns', 'list']).toString();
  for (const m of list.matchAll(new RegExp(`^(${name}h\\d+)`, 'gm'))) spawnSync('ip', ['netns', 'del', m[1]]);
  for (let i = 0; i < 200; i++) spawnSync('ip', ['link', 'del', `${name}v${i}`], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', `${name}br`], { stdio: 'ignore' });
  process.stdout.write(`removed host set '${name}'\n`);
} else die(usage);
