/**
 * `switchyard smpp binds [--tenant ID] [--url URL] [--json]` and
 * `switchyard smpp kick BIND_ID [--url URL]`: the customer SMPP binds of a
 * running engine node, over its admin routes (SWITCHYARD_ADMIN_KEY).
 */
import { parseArgs } from 'node:util';
import { SwitchyardError } from '../errors.js';
import type { BindInfo } from './smpp-server.js';

export const SMPP_USAGE = 'usage: switchyard smpp binds [--tenant ID] [--url http://127.0.0.1:8080] [--json] | switchyard smpp kick BIND_ID [--url URL]';

async function call(url: string, method: string, path: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${process.env.SWITCHYARD_ADMIN_KEY ?? ''}` } });
  } catch (err) {
    throw new SwitchyardError('UNAVAILABLE', `no engine answers at ${url} (${(err as Error).message}); is it running, and is --url right?`);
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new SwitchyardError(res.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST', `HTTP ${res.status}: ${String(body.message ?? body.error ?? JSON.stringify(body))}${res.status === 401 ? ' (set SWITCHYARD_ADMIN_KEY)' : ''}`);
  return body;
}

export function formatBinds(binds: ReadonlyArray<BindInfo>): string {
  const lines = [`${'id'.padEnd(8)}${'tenant'.padEnd(16)}${'mode'.padEnd(13)}${'remote'.padEnd(24)}${'since (UTC)'.padEnd(22)}${'submits'.padStart(9)}${'accepted'.padStart(10)}${'refused'.padStart(9)}${'throttled'.padStart(11)}`];
  for (const b of binds)
    lines.push(`${b.id.padEnd(8)}${b.tenant.padEnd(16)}${b.mode.padEnd(13)}${b.remote.padEnd(24)}${new Date(b.since).toISOString().slice(0, 19).padEnd(22)}${String(b.stats.submits).padStart(9)}${String(b.stats.accepted).padStart(10)}${String(b.stats.refused).padStart(9)}${String(b.stats.throttled).padStart(11)}`);
  if (binds.length === 0) lines.push('(no customer binds on this node)');
  return lines.join('\n');
}

export async function smppCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, tenant: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  const [sub, id] = positionals;
  if (values.help) {
    console.log(SMPP_USAGE);
    return;
  }
  if (sub === 'binds' && id === undefined) {
    const body = await call(values.url, 'GET', `/v1/admin/smpp/binds${values.tenant === undefined ? '' : `?tenant=${encodeURIComponent(values.tenant)}`}`);
    console.log(values.json ? JSON.stringify(body, null, 2) : formatBinds(body.binds as BindInfo[]));
    return;
  }
  if (sub === 'kick' && id !== undefined) {
    await call(values.url, 'POST', `/v1/admin/smpp/binds/${encodeURIComponent(id)}/kick`);
    console.log(`bind ${id} unbound`);
    return;
  }
  throw new SwitchyardError('BAD_REQUEST', SMPP_USAGE);
}
