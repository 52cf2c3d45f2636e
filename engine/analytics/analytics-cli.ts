/**
 * `switchyard analytics ...`: the analytics HTTP API from the command line,
 * against a running engine (`--url`). The key is SWITCHYARD_API_KEY (a
 * tenant: its own traffic) or SWITCHYARD_ADMIN_KEY (everything), or --key.
 *
 *   switchyard analytics delivery [--by smsc,country] [--bucket hour] [filters]
 *   switchyard analytics failures [--by smsc] [filters]
 *   switchyard analytics statuses [--by tenant] [filters]
 *   switchyard analytics message ID
 *   switchyard analytics number +4791234567
 *   switchyard analytics bad-numbers
 *   switchyard analytics report events|messages [--out FILE] [filters]
 * filters: --from --to (ms or ISO 8601; default the last 24 h) --smsc --country
 *   --operator --mcc --mnc --status --tenant (admin) --limit
 * Tables by default; --json prints the API's JSON.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import { reachEngine } from '../cli/cli-kit.js';
import { SwitchyardError } from '../errors.js';

const USAGE = `usage: switchyard analytics delivery|failures|statuses|message ID|number E164|bad-numbers|report events|messages
  [--url http://127.0.0.1:8080] [--key KEY] [--json] [--out FILE]
  [--from T] [--to T] [--by smsc,country,operator,tenant,mcc,mnc] [--bucket minute|hour|day]
  [--smsc ID] [--country CC] [--operator NAME] [--mcc N] [--mnc N] [--status S] [--tenant ID] [--limit N]`;

type Row = Record<string, unknown>;

function pct(v: unknown): string {
  return typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '-';
}

/** A plain text table: columns sized to their widest cell. */
function table(rows: ReadonlyArray<Row>, cols: ReadonlyArray<[string, (r: Row) => unknown]>): string {
  const cells = rows.map((r) => cols.map(([, f]) => String(f(r) ?? '')));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: ReadonlyArray<string>) => c.map((x, i) => x.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(cols.map(([h]) => h)), ...cells.map(line)].join('\n');
}

export async function analyticsCommand(args: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      key: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' }, bucket: { type: 'string' },
      smsc: { type: 'string' }, country: { type: 'string' }, operator: { type: 'string' }, mcc: { type: 'string' }, mnc: { type: 'string' },
      status: { type: 'string' }, tenant: { type: 'string' }, limit: { type: 'string' },
    },
  });
  const [sub, arg] = positionals;
  const key = v.key ?? process.env.SWITCHYARD_API_KEY ?? process.env.SWITCHYARD_ADMIN_KEY ?? '';
  if (key === '') throw new SwitchyardError('UNAUTHORIZED', 'give --key, or set SWITCHYARD_API_KEY (a tenant) or SWITCHYARD_ADMIN_KEY');
  const q = new URLSearchParams();
  for (const k of ['from', 'to', 'by', 'bucket', 'smsc', 'country', 'operator', 'mcc', 'mnc', 'status', 'tenant', 'limit'] as const) if (v[k] !== undefined) q.set(k, v[k] as string);
  let path: string;
  switch (sub) {
    case 'delivery': case 'failures': case 'statuses': case 'bad-numbers': path = `/${sub}`; break;
    case 'message': if (arg === undefined) throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard analytics message ID'); path = `/messages/${encodeURIComponent(arg)}`; break;
    case 'number': if (arg === undefined) throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard analytics number +4791234567'); path = `/numbers/${encodeURIComponent(arg)}`; break;
    case 'report':
      if (arg !== 'events' && arg !== 'messages') throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard analytics report events|messages [--out FILE]');
      path = `/reports/${arg}.csv`;
      break;
    default:
      throw new SwitchyardError('BAD_REQUEST', USAGE);
  }
  const res = await reachEngine(`${v.url}/v1/analytics${path}${q.size > 0 ? `?${q}` : ''}`, { headers: { authorization: `Bearer ${key}` } });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new SwitchyardError('BAD_REQUEST', `HTTP ${res.status} ${body.code ?? ''}: ${body.message ?? ''}`);
  }
  if (sub === 'report') {
    // Streamed straight through: a report of any size never sits in memory.
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    await pipeline(body, v.out === undefined ? process.stdout : createWriteStream(v.out));
    return;
  }
  const body = (await res.json()) as { rows?: Row[]; events?: Row[] } & Row;
  if (v.json) {
    console.log(JSON.stringify(body, null, 2));
    return;
  }
  const dims = (v.by ?? '').split(',').filter((d) => d !== '');
  const dimCols: Array<[string, (r: Row) => unknown]> = [...(v.bucket ? [['bucket', (r: Row) => r.bucket] as [string, (r: Row) => unknown]] : []), ...dims.map((d) => [d, (r: Row) => r[d]] as [string, (r: Row) => unknown])];
  const lat = (k: string) => (r: Row) => (r.latencyMs as Record<string, unknown> | undefined)?.[k] ?? '-';
  if (sub === 'delivery') console.log(table(body.rows ?? [], [...dimCols, ['submitted', (r) => r.submitted], ['outcomes', (r) => r.outcomes], ['delivered', (r) => r.delivered], ['rate', (r) => pct(r.deliveryRate)], ['undeliv', (r) => r.undelivered], ['expired', (r) => r.expired], ['rejected', (r) => r.rejected], ['unknown', (r) => r.unknown], ['p50 ms', lat('p50')], ['p90 ms', lat('p90')], ['p99 ms', lat('p99')]]));
  else if (sub === 'failures') console.log(table(body.rows ?? [], [...dimCols, ['status', (r) => r.status], ['code', (r) => r.errorCode], ['text', (r) => r.errorText], ['count', (r) => r.count], ['share', (r) => pct(r.share)]]));
  else if (sub === 'statuses') console.log(table(body.rows ?? [], [...dimCols, ['status', (r) => r.status], ['count', (r) => r.count], ['share', (r) => pct(r.share)]]));
  else if (sub === 'bad-numbers') console.log(table(body.rows ?? [], [['tenant', (r) => r.tenant], ['number', (r) => r.to], ['failures', (r) => r.failures], ['last failure', (r) => new Date(Number(r.lastFailureAt)).toISOString()], ['codes', (r) => [...new Set((r.evidence as Row[]).map((e) => e.errorCode))].join(' ')]]));
  else {
    if (sub === 'number') console.log(`${String(body.to)}: ${String(body.messages)} messages, ${Object.entries(body.statuses as Record<string, number>).map(([s, n]) => `${s} ${n}`).join(', ')}`);
    console.log(table(body.events ?? [], [['time', (r) => new Date(Number(r.at)).toISOString()], ['message', (r) => r.messageId], ['status', (r) => r.status], ['smsc', (r) => r.smsc], ['to', (r) => r.to], ['code', (r) => r.errorCode], ['text', (r) => r.errorText], ['latency ms', (r) => r.latencyMs ?? ''], ['operator reply', (r) => r.rawReply]]));
  }
}
