/**
 * How long the local Redis Cluster (engine/redis/private-cluster.ts) takes to
 * start, fail over and stop: `npm run bench:cluster-start [-- --runs 5]`.
 * Each run starts a cluster (3 masters with 1 replica each, then without
 * replicas), times start → healthy (every node up, redis-cli --cluster create,
 * all slots ok, nodes agreeing, replicas in sync), and with replicas SIGKILLs
 * the master of slot 0 and times kill → replica promoted and healthy
 * (cluster-node-timeout 3 s), restart → rejoined as a replica, and stop.
 * Medians and maxima over the runs; the LAST line is one JSON object.
 */
import { rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { removeDeadClusters, startPrivateCluster } from '../engine/redis/private-cluster.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const dir = `data/bench-cluster-${process.pid}`;
// Clusters of runs that were killed (their nodes keep running) are removed first.
await removeDeadClusters('data', 'bench-cluster-');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const max = (xs: number[]) => Math.max(...xs);
const t = { startMs: [] as number[], startNoReplicasMs: [] as number[], failoverMs: [] as number[], rejoinMs: [] as number[], stopMs: [] as number[] };

try {
  for (let i = 0; i < runs; i++) {
    console.log(`run ${i + 1}: starting`);
    let t0 = Date.now();
    const c = await startPrivateCluster({ dir });
    t.startMs.push(Date.now() - t0);
    t0 = Date.now();
    const k = await c.killMaster();
    t.failoverMs.push(Date.now() - t0);
    t0 = Date.now();
    await c.restartNode(k.killed);
    t.rejoinMs.push(Date.now() - t0);
    t0 = Date.now();
    await c.stop();
    t.stopMs.push(Date.now() - t0);
    t0 = Date.now();
    const bare = await startPrivateCluster({ dir, replicas: 0 });
    t.startNoReplicasMs.push(Date.now() - t0);
    await bare.stop();
    console.log(`run ${i + 1}: start ${t.startMs.at(-1)} ms (no replicas ${t.startNoReplicasMs.at(-1)} ms), failover ${t.failoverMs.at(-1)} ms, rejoin ${t.rejoinMs.at(-1)} ms, stop ${t.stopMs.at(-1)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const out: Record<string, unknown> = { bench: 'cluster-start', runs, masters: 3, nodeTimeoutMs: 3000 };
for (const [k, xs] of Object.entries(t)) {
  out[`${k.replace(/Ms$/, '')}P50Ms`] = median(xs);
  out[`${k.replace(/Ms$/, '')}MaxMs`] = max(xs);
}
out.machine = `${cpus().length} cores ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(JSON.stringify(out));
