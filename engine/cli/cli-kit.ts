/**
 * What every `switchyard` command shares (issue 15, "the CLI helps"): the usage
 * text of each command (README's Commands block says the same; a test compares
 * them), `--help`, numeric options checked by name, and requests to a running
 * engine whose failures say which URL and why (not `fetch failed`).
 */
import { SwitchyardError } from '../errors.js';

/**
 * Each command's usage, as `switchyard COMMAND --help` prints it. README.md's
 * Commands block holds the same lines with `switchyard` written as
 * `node dist/engine/cli.js` (test/unit/cli-usage.test.ts).
 */
export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  demo: 'switchyard demo [--duration S] [--rate N] [--clients N] [--mo-rate N]',
  start: 'switchyard start --config FILE [--port N] [--redis-port N]',
  'simulate-smsc': 'switchyard simulate-smsc [--port N] [--count N] [--system-id ID] [--tps N] [--window N] [--max-binds N] [--receipt-delay-ms N] [--mo-rate N] [--mo-to NUMBER] [--mo-stop-share 0..1]',
  status: 'switchyard status [--url http://127.0.0.1:8080]',
  route: 'switchyard route explain +4791234567 [--tenant ID] [--config FILE | --url http://127.0.0.1:8080] [--json]',
  mnp: 'switchyard mnp load PORTED.csv --config FILE',
  analytics:
    'switchyard analytics delivery|failures|statuses [--by smsc,country,operator,tenant,mcc,mnc] [--bucket minute|hour|day] [--from T] [--to T] [--smsc ID] [--country CC] [--operator NAME] [--status S] [--tenant ID] [--url URL] [--json]\n' +
    'switchyard analytics message ID | number +4791234567 | bad-numbers | report events|messages [--out FILE] [filters]',
  usage: 'switchyard usage --tenant ID [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--url http://127.0.0.1:8080 | --config FILE] [--json]',
  tenants: 'switchyard tenants list|show|create|update|suspend|unsuspend|delete|audit ... [--url URL]',
  keys: 'switchyard keys list|issue|revoke TENANT ... [--url URL]',
  smpp: 'switchyard smpp binds [--tenant ID] [--url http://127.0.0.1:8080] [--json]\nswitchyard smpp kick BIND_ID [--url http://127.0.0.1:8080]',
};

/** What each command does, one line (the overview of `switchyard --help`). */
export const COMMAND_SUMMARY: Readonly<Record<string, string>> = {
  demo: 'everything on one machine: private Redis, 2 simulated SMSCs, an engine and a load that stops by itself',
  start: 'an engine node (REDIS_URL, REDIS_CLUSTER_NODES, the config\'s redis.url, or a private Redis under ./data/redis)',
  'simulate-smsc': 'SMSC simulators (the password binds must present: SWITCHYARD_SIM_PASSWORD)',
  status: 'actor, bind and ingress state of a running engine (SWITCHYARD_ADMIN_KEY)',
  route: 'why a number goes where it goes (offline from a config, or asked of a running engine)',
  mnp: 'replace the ported-numbers table in Redis',
  analytics: 'delivery rates, failures, statuses, a message\'s or number\'s history, bad numbers, CSV reports (SWITCHYARD_API_KEY or SWITCHYARD_ADMIN_KEY)',
  usage: 'a tenant\'s messages, segments and cost by UTC day',
  tenants: 'tenants as data: create, update, suspend, delete, audit (SWITCHYARD_ADMIN_KEY)',
  keys: 'a tenant\'s API keys: issue (shown once), list, revoke (SWITCHYARD_ADMIN_KEY)',
  smpp: 'customer SMPP binds of a running engine: list them, kick one (SWITCHYARD_ADMIN_KEY)',
};

/** True when the arguments ask for help. */
export function wantsHelp(args: ReadonlyArray<string>): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** The whole help: every command's usage and what it does. */
export function overview(): string {
  const lines = ['usage: switchyard COMMAND [options]   (switchyard COMMAND --help for one command)', ''];
  for (const [cmd, u] of Object.entries(COMMAND_USAGE)) lines.push(`  ${u.split('\n').join('\n  ')}`, `      ${COMMAND_SUMMARY[cmd] ?? ''}`);
  lines.push(
    '',
    'Environment: REDIS_URL (else `start` runs a private redis-server under ./data/redis, with a password',
    '  kept there, which `mnp load` and `usage --config` then use) or REDIS_CLUSTER_NODES (a Redis Cluster),',
    '  API keys and SMSC passwords as named in the config, SWITCHYARD_ADMIN_KEY for /v1/status and /v1/admin.',
  );
  return lines.join('\n');
}

/**
 * A numeric option's value, checked: `--rate abc` is an error naming the
 * option and what it takes (it used to reach `new Array(NaN)`: "Invalid array length").
 */
export function numberOption(name: string, raw: string | undefined, o: { min: number; max: number; integer?: boolean }): number;
export function numberOption(name: string, raw: string | undefined, o: { min: number; max: number; integer?: boolean; optional: true }): number | undefined;
export function numberOption(name: string, raw: string | undefined, o: { min: number; max: number; integer?: boolean; optional?: boolean }): number | undefined {
  if (raw === undefined) {
    if (o.optional === true) return undefined;
    throw new SwitchyardError('BAD_REQUEST', `--${name} needs a value`);
  }
  const integer = o.integer !== false;
  const v = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < o.min || v > o.max)
    throw new SwitchyardError('BAD_REQUEST', `--${name} must be ${integer ? 'a whole number' : 'a number'} from ${o.min} to ${o.max}, got ${JSON.stringify(raw.slice(0, 40))}`);
  return v;
}

/** Why a fetch failed, from undici's "fetch failed" and its cause (ECONNREFUSED 127.0.0.1:8080, ENOTFOUND host, …). */
function causeOf(err: unknown): string {
  const c = (err as { cause?: { code?: string; message?: string } }).cause;
  if (c?.message) return c.code && !c.message.includes(c.code) ? `${c.code}: ${c.message}` : c.message;
  return (err as Error).message;
}

/** fetch(), with a failure to connect named by URL and cause (UNAVAILABLE): for answers read as a stream. */
export async function reachEngine(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new SwitchyardError('UNAVAILABLE', `cannot reach the engine at ${url}: ${causeOf(err)} (is it running, and is --url right?)`, { cause: err });
  }
}

/**
 * GET (or another method) of a running engine's endpoint, answered JSON. An
 * engine that cannot be reached, or that answers something not JSON, is an
 * error naming the URL and the cause; `!ok` answers are returned for the caller to word.
 */
export async function fetchEngine(url: string, init: RequestInit = {}): Promise<{ ok: boolean; status: number; body: Record<string, unknown> }> {
  const res = await reachEngine(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SwitchyardError('UNAVAILABLE', `${url} answered HTTP ${res.status} with something that is not JSON (${JSON.stringify(text.slice(0, 80))}): is --url a Switchyard engine?`);
  }
  return { ok: res.ok, status: res.status, body: (body ?? {}) as Record<string, unknown> };
}

/** The error text of an engine's non-2xx answer: its code and text when it has them. */
export function engineRefusal(url: string, r: { status: number; body: Record<string, unknown> }): string {
  const b = r.body;
  const text = typeof b.message === 'string' ? b.message : typeof b.error === 'string' ? b.error : JSON.stringify(b);
  return `${url} answered HTTP ${r.status}${typeof b.code === 'string' ? ` ${b.code}` : ''}: ${text}`;
}
