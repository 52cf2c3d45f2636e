/**
 * The NOC files in ops/ stay true to what the engine exports: promtool accepts
 * the alert rules and the example Prometheus config, and every metric the
 * dashboard and the rules use exists (engine/metrics/metric-names.ts) with a
 * type that fits how it is used. The metric list itself follows the
 * Prometheus conventions.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../engine/metrics/metric-names.js';

const specs = Object.values(METRICS);
const byName = new Map<string, (typeof specs)[number]>(specs.map((m) => [m.name, m]));

function promtool(...args: string[]): string {
  const p = spawnSync('promtool', args, { encoding: 'utf8' });
  if (p.error) throw new Error('promtool not found: run scripts/ensure-promtool.sh (npm test does)');
  expect(p.status, `${p.stdout}${p.stderr}`).toBe(0);
  return `${p.stdout}${p.stderr}`;
}

/** switchyard_* names in PromQL expressions, with how each is used. */
function usedMetrics(exprs: string[]): Array<{ name: string; suffix: string; inRate: boolean }> {
  const out = [];
  for (const e of exprs) {
    for (const m of e.matchAll(/(rate|increase|deriv)?\(?\s*(switchyard_[a-z_]+)/g)) {
      const full = m[2] as string;
      const sx = /_(bucket|sum|count)$/.exec(full);
      const name = sx && byName.get(full.slice(0, -sx[0].length))?.type === 'histogram' ? full.slice(0, -sx[0].length) : full;
      out.push({ name, suffix: sx && name !== full ? (sx[1] as string) : '', inRate: m[1] === 'rate' || m[1] === 'increase' });
    }
  }
  return out;
}

const rules = readFileSync('ops/prometheus/alerts.yml', 'utf8');
const ruleExprs = [...rules.matchAll(/expr: (\|\n((?: {10}.*\n)+)|.*)/g)].map((m) => m[2] ?? m[1] ?? '');
const dashboard = JSON.parse(readFileSync('ops/grafana/switchyard.json', 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
const dashExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

describe('ops/ files', () => {
  it('promtool accepts the alert rules and the example Prometheus config', () => {
    expect(promtool('check', 'rules', 'ops/prometheus/alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
    expect(promtool('check', 'config', 'ops/prometheus/prometheus.yml')).toContain('is valid prometheus config file syntax');
  });

  it('the dashboard and the rules use only metrics the engine exports, as their types allow', () => {
    const used = usedMetrics([...ruleExprs, ...dashExprs]);
    expect(used.length).toBeGreaterThan(30);
    for (const u of used) {
      const spec = byName.get(u.name);
      expect(spec, `${u.name} is not in engine/metrics/metric-names.ts`).toBeDefined();
      if (u.suffix !== '') expect(spec?.type, `${u.name}_${u.suffix}`).toBe('histogram');
      if (u.inRate && u.suffix === '') expect(spec?.type, `rate() over ${u.name}`).toBe('counter');
    }
  });

  it('the dashboard shows every per-SMSC metric, and the rules cover binds, queues, delivery, latency, restarts', () => {
    const onDash = new Set(usedMetrics(dashExprs).map((u) => u.name));
    for (const m of specs.filter((s) => (s.labels as readonly string[]).includes('smsc'))) expect(onDash.has(m.name), m.name).toBe(true);
    for (const a of ['SwitchyardSmscAllBindsDown', 'SwitchyardQueueLagGrowing', 'SwitchyardDeliveryRateDrop', 'SwitchyardReceiptLatencyHigh', 'SwitchyardActorRestarts'])
      expect(rules).toContain(`alert: ${a}`);
  });

  it('the metric list follows the Prometheus conventions', () => {
    for (const m of specs) {
      expect(m.name).toMatch(/^switchyard_[a-z][a-z0-9_]*$/);
      if (m.type === 'counter') expect(m.name).toMatch(/_total$/);
      else expect(m.name).not.toMatch(/_total$/);
      if (m.type === 'histogram') expect(m.name).toMatch(/_(seconds|bytes)$/);
      for (const l of m.labels) expect(['id', 'number', 'to', 'msisdn', 'message_id', 'ref']).not.toContain(l);
    }
    expect(new Set(specs.map((m) => m.name)).size).toBe(specs.length);
  });
});
