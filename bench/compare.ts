/**
 * Compares two trees of Switchyard with the same end-to-end benchmark, run
 * alternately on this machine in one session: `npm run bench:compare --
 * --old ../base [--new .] [--rounds 2] [--bench e2e] -- <benchmark options>`.
 *
 *   round 1: old, new   round 2: new, old   round 3: old, new ...
 *
 * Alternating (and swapping who goes first each round) spreads slow drifts of
 * a shared or virtualised machine over both trees. Each tree must be built
 * (`npx tsc -p tsconfig.build.json` in it); each run is the tree's own
 * `dist/bench/<bench>.bench.js` with the same options, and its last output line
 * (the benchmark's JSON figures) is kept. Prints each run, the medians and the
 * new/old ratios of the figures both trees report, then as the LAST line one
 * JSON object {bench:"compare", old, new, ratio}.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const sep = process.argv.indexOf('--', 2);
const own = sep < 0 ? process.argv.slice(2) : process.argv.slice(2, sep);
const passOn = sep < 0 ? [] : process.argv.slice(sep + 1);
const { values: a } = parseArgs({
  args: own,
  options: {
    old: { type: 'string' },
    new: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '2' },
    bench: { type: 'string', default: 'e2e' },
  },
});

function fail(msg: string): never {
  process.stderr.write(`bench:compare: ${msg}\n`);
  process.exit(2);
}

if (a.old === undefined) fail('give the tree to compare against: --old PATH (a built checkout, e.g. a git worktree of the old commit)');
const rounds = Number(a.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) fail(`--rounds must be an integer from 1 to 20, got "${a.rounds}"`);
const trees = { old: resolve(a.old), new: resolve(a.new) };
for (const [name, dir] of Object.entries(trees)) {
  const script = resolve(dir, `dist/bench/${a.bench}.bench.js`);
  if (!existsSync(script)) fail(`${name} tree ${dir} has no ${script}: build it first (npx tsc -p tsconfig.build.json)`);
}

type Figures = Record<string, unknown>;

let machine = '';

async function runOnce(dir: string): Promise<Figures> {
  const child = spawn(process.execPath, [resolve(dir, `dist/bench/${a.bench}.bench.js`), ...passOn], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    process.stdout.write(c);
  });
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0) fail(`the run in ${dir} exited with code ${code}`);
  try {
    const f = JSON.parse(last) as Figures;
    if (typeof f.machine === 'string') machine = f.machine;
    return f;
  } catch {
    return fail(`the run in ${dir} did not end with a JSON line: ${last.slice(0, 200)}`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The numeric figures of a run, nested objects flattened (cpuCores.redis). */
function numbers(f: Figures, prefix = '', out: Record<string, number> = {}): Record<string, number> {
  for (const [k, v] of Object.entries(f)) {
    if (typeof v === 'number' && Number.isFinite(v)) out[prefix + k] = v;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) numbers(v as Figures, `${prefix}${k}.`, out);
  }
  return out;
}

const runs: { old: Array<Record<string, number>>; new: Array<Record<string, number>> } = { old: [], new: [] };
for (let r = 0; r < rounds; r++) {
  const order: Array<'old' | 'new'> = r % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
  for (const which of order) {
    process.stderr.write(`\n== round ${r + 1}/${rounds}: ${which} (${trees[which]})\n`);
    runs[which].push(numbers(await runOnce(trees[which])));
  }
}

const keys = Object.keys(runs.old[0] ?? {}).filter((k) => runs.new.every((f) => k in f) && runs.old.every((f) => k in f));
const med = { old: {} as Record<string, number>, new: {} as Record<string, number> };
const ratio: Record<string, number> = {};
for (const k of keys) {
  med.old[k] = median(runs.old.map((f) => f[k] as number));
  med.new[k] = median(runs.new.map((f) => f[k] as number));
  if (med.old[k] !== 0) ratio[k] = Math.round(((med.new[k] as number) / (med.old[k] as number)) * 1000) / 1000;
}
const show = ['msgsPerSec', 'acceptRatePerSec', 'lost', 'duplicates', 'ackP50Ms', 'ackP99Ms', 'redisCpuUsPerMsg', 'engineCpuUsPerMsg', 'cpuCores.machine'];
process.stderr.write('\nfigure                     old (median)   new (median)   new/old\n');
for (const k of show.filter((x) => keys.includes(x))) {
  process.stderr.write(`${k.padEnd(26)} ${String(med.old[k]).padStart(13)} ${String(med.new[k]).padStart(14)} ${String(ratio[k] ?? '-').padStart(9)}\n`);
}
console.log(JSON.stringify({ bench: 'compare', of: a.bench, machine, rounds, args: passOn.join(' '), oldTree: trees.old, newTree: trees.new, old: med.old, new: med.new, ratio }));
