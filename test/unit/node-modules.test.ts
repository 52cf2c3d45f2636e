import { describe, expect, it } from 'vitest';
import type uWS from 'uWebSockets.js';
import { NodeModules, type HttpScope, type NodeModule } from '../../engine/node/node-module.js';
import type { WsOp } from '../../engine/ingress/ingress-server.js';

// The engine's feature list (engine/node/node-module.ts): order of start and stop, failures, routes and ops.
function recorder(): { calls: string[]; module: (name: string, o?: { failStart?: boolean; failStop?: boolean; ops?: string[] }) => NodeModule } {
  const calls: string[] = [];
  return {
    calls,
    module: (name, o = {}) => ({
      name,
      start() {
        calls.push(`start ${name}`);
        if (o.failStart === true) throw new Error(`${name} cannot start`);
      },
      async stop() {
        calls.push(`stop ${name}`);
        if (o.failStop === true) throw new Error(`${name} cannot stop`);
      },
      routes: () => void calls.push(`routes ${name}`),
      wsOps: () => new Map<string, WsOp>((o.ops ?? []).map((op) => [op, () => undefined])),
    }),
  };
}

const app = {} as uWS.TemplatedApp;
const http = { auth: {}, isAdmin: () => false } as unknown as HttpScope;

describe('node modules', () => {
  it('start in list order and stop in the reverse order', async () => {
    const r = recorder();
    const list = new NodeModules(() => undefined);
    for (const n of ['events', 'actors', 'ingress']) list.add(r.module(n));
    await list.start();
    await list.stop();
    expect(r.calls).toEqual(['start events', 'start actors', 'start ingress', 'stop ingress', 'stop actors', 'stop events']);
  });

  it('a failed start is thrown and no later module starts; a failed stop is logged and the rest still stop', async () => {
    const r = recorder();
    const logged: string[] = [];
    const list = new NodeModules((_level, m) => logged.push(m));
    list.add(r.module('a'));
    list.add(r.module('b', { failStart: true, failStop: true }));
    list.add(r.module('c'));
    await expect(list.start()).rejects.toThrow('b cannot start');
    await list.stop();
    expect(r.calls).toEqual(['start a', 'start b', 'stop c', 'stop b', 'stop a']);
    expect(logged).toEqual(['stopping b failed: b cannot stop']);
  });

  it("registers every module's routes and merges their WebSocket ops; an op offered twice is refused", () => {
    const r = recorder();
    const list = new NodeModules(() => undefined);
    list.add(r.module('policy', { ops: ['optout_add', 'optout_remove'] }));
    list.add(r.module('ops'));
    expect([...list.routes(app, http).keys()]).toEqual(['optout_add', 'optout_remove']);
    expect(r.calls).toEqual(['routes policy', 'routes ops']);
    list.add(r.module('other', { ops: ['optout_add'] }));
    expect(() => list.routes(app, http)).toThrow('WebSocket op optout_add offered by two modules (other)');
  });
});
