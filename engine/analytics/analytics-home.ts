/**
 * Where the fleet's analytics lives, held in Redis so that nodes cannot split
 * it (issue 14, README "Many nodes" → "Analytics with several nodes").
 *
 * Embedded chdb keeps its data on the disk of the process that opens it: with
 * several nodes each would hold a part of the history (the events consumer
 * group hands each sink a share), and a leader that forwarded queries to
 * itself would take the history with it when it died. So:
 *
 *   embedded chdb      one analytics node in the fleet. A second node with
 *                      analytics on (embedded, or on a server) is refused at
 *                      start; nodes with analytics off may join.
 *   ClickHouse server  (CLICKHOUSE_URL) any number of nodes, all on the same
 *                      server: each runs a sink in the one consumer group
 *                      (a share of the events each) and answers queries.
 *
 *   {P}{c}:an:embedded  node id of the node on embedded chdb   (TTL HOME_TTL_MS, renewed)
 *   {P}{c}:an:server    hash of the server URL the nodes share  (TTL HOME_TTL_MS, renewed)
 *
 * The claim and its renewals are one script (lua/claim-home.lua). A node that
 * crashed holds its claim until the TTL runs out; the same node id starting
 * again takes it back at once. A renewal that finds the home taken (this node
 * was paused past the TTL and another started meanwhile) reports the conflict:
 * the engine stops its analytics process rather than split the history.
 */
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../errors.js';
import type { Keys } from '../queue/keys.js';
import { loadLuaScript, luaPath } from '../redis/lua-loader.js';

export const CLAIM_HOME = loadLuaScript(luaPath(import.meta.url, './lua/claim-home.lua'));

/** How long a claim lasts without renewal (ms); renewed every third of it. */
export const HOME_TTL_MS = 10_000;

export interface HomeRedis {
  eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export type AnalyticsBackend = { readonly kind: 'embedded'; readonly node: string } | { readonly kind: 'server'; readonly url: string };

/** The value a node holds: its node id (embedded) or a hash of the server's URL (no credentials in Redis). */
function valueOf(b: AnalyticsBackend): string {
  return b.kind === 'embedded' ? b.node : createHash('sha256').update(b.url).digest('hex').slice(0, 16);
}

/** Why the claim was refused, for the operator: what holds the analytics and what to do. */
function refusal(b: AnalyticsBackend, holder: string, value: string): string {
  if (holder === 'embedded')
    return b.kind === 'embedded'
      ? `node "${value}" runs analytics on embedded chdb: several analytics nodes need a ClickHouse server (set CLICKHOUSE_URL on every node) or analytics.enabled: false on this one`
      : `node "${value}" runs analytics on embedded chdb: move it to the ClickHouse server too (CLICKHOUSE_URL), or set analytics.enabled: false here`;
  return b.kind === 'embedded'
    ? 'the fleet\'s analytics nodes write to a ClickHouse server: embedded chdb would split the history; set CLICKHOUSE_URL to that server, or analytics.enabled: false'
    : 'the fleet\'s analytics nodes write to another ClickHouse server (CLICKHOUSE_URL differs): every node must use the same one';
}

export class AnalyticsHome {
  private timer: NodeJS.Timeout | undefined;
  private readonly keys: [string, string];

  constructor(
    private readonly redis: HomeRedis,
    keys: Keys,
    private readonly backend: AnalyticsBackend,
    private readonly onLost: (reason: string) => void,
    private readonly ttlMs = HOME_TTL_MS,
  ) {
    this.keys = [keys.control('an:embedded'), keys.control('an:server')];
  }

  /** Claims once; undefined when held, else why not. */
  async claim(): Promise<string | undefined> {
    const r = (await this.redis.eval(CLAIM_HOME.lua, CLAIM_HOME.numberOfKeys, ...this.keys, this.backend.kind, valueOf(this.backend), this.ttlMs)) as [string, string?];
    return r[0] === 'ok' ? undefined : refusal(this.backend, r[0], r[1] ?? '');
  }

  /** Claims, or throws CONFIG_INVALID naming what holds the analytics; then renews every third of the TTL. */
  async start(): Promise<void> {
    const why = await this.claim();
    if (why !== undefined) throw new SwitchyardError('CONFIG_INVALID', `analytics refused: ${why}`);
    this.timer = setInterval(() => {
      this.claim().then(
        (lost) => {
          if (lost === undefined) return;
          this.stop();
          this.onLost(lost);
        },
        () => undefined, // Redis away: the next renewal tries again (the claim lasts the TTL)
      );
    }, Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The backend a node's analytics uses, from its config and environment:
 * a server when CLICKHOUSE_URL is set, else embedded chdb. analytics.cluster
 * without a server is refused (a cluster schema on embedded chdb means nothing).
 */
export function analyticsBackend(node: string, cluster: string, url: string | undefined): AnalyticsBackend {
  if (url !== undefined && url !== '') return { kind: 'server', url };
  if (cluster !== '') throw new SwitchyardError('CONFIG_INVALID', `analytics.cluster "${cluster}" needs a ClickHouse server: set CLICKHOUSE_URL`);
  return { kind: 'embedded', node };
}
