#!/usr/bin/env node
// What one exporter refresh of a fleet costs: 100 simulated holder-tracking
// QEMUs (qapi-ts/testing, in a child process of their own, unix sockets in
// one directory) refreshed by the exporter's Fleet, as a scrape does:
//   per refresh   connect, query-iothreads, let go (the default)
//   --hold        one kept session per VM
// Prints the median wall time of a refresh of all VMs, this process's CPU
// time per refresh, and the ratio of the two modes, in interleaved rounds.
//
//   npm run build && npm run bench:exporter -- [--vms 100] [--rounds 9]
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, repoRoot, sorted } from './common.mjs';

const dist = join(repoRoot, 'dist');
if (!existsSync(join(dist, 'src/exporter/index.js'))) {
  console.error('bench/exporter: build first (npm run build)');
  process.exit(1);
}
const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '9' },
    serve: { type: 'string' },
  },
});

if (values.serve !== undefined) {
  // The child: the simulated fleet.
  const { QmpTestServer, holderTrackingQemu, DEMO_MACHINE } = await import(join(dist, 'src/testing/index.js'));
  for (let i = 0; i < Number(values.vms); i++) {
    const server = await QmpTestServer.create({ recordReceived: false });
    server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
    await server.listen({ path: join(values.serve, `vm${i}.sock`) });
  }
  process.send('ready');
} else {
  const { Fleet } = await import(join(dist, 'src/exporter/index.js'));
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-exporter-'));
  const child = fork(new URL(import.meta.url).pathname, ['--serve', dir, '--vms', values.vms], { stdio: 'inherit' });
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`fleet exited with ${code}`)));
    });
    const modes = {
      'per refresh': new Fleet({ socketDirs: [dir] }),
      '--hold': new Fleet({ socketDirs: [dir], hold: true }),
    };
    const wall = {};
    const cpu = {};
    for (const [name, fleet] of Object.entries(modes)) {
      const first = await fleet.refreshAll(); // warm up: schema probes, sessions
      if (first.some((s) => !s.up)) throw new Error(`${name}: a VM is down: ${first.find((s) => !s.up).error}`);
      wall[name] = [];
      cpu[name] = [];
    }
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const [name, fleet] of Object.entries(modes)) {
        const c = process.cpuUsage();
        const t = performance.now();
        await fleet.refreshAll();
        wall[name].push(performance.now() - t);
        const used = process.cpuUsage(c);
        cpu[name].push((used.user + used.system) / 1000);
      }
    }
    console.log(`refresh of ${values.vms} simulated VMs, median of ${values.rounds} rounds:`);
    for (const name of Object.keys(modes)) {
      console.log(
        `  ${name.padEnd(12)} ${median(sorted(wall[name])).toFixed(0).padStart(5)} ms wall` +
          `  ${median(sorted(cpu[name])).toFixed(0).padStart(5)} ms CPU (exporter side)`,
      );
    }
    const held = (times) => (median(sorted(times['--hold'])) / median(sorted(times['per refresh']))).toFixed(2);
    console.log(`  --hold / per refresh: wall ${held(wall)}, CPU ${held(cpu)}`);
    await Promise.all(Object.values(modes).map((f) => f.close()));
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
