/**
 * An operator actor's crash affects its own SMSC only: each actor has a worker
 * thread of its own, so an uncaught exception (or the thread being killed)
 * restarts that actor and no other, however often, and the others' binds stay
 * up throughout (their SMSCs see no rebind).
 */
import { describe, expect, it } from 'vitest';
import { harnessSession } from '../helpers/harness-session.js';
import { waitFor } from '../helpers/wait-for.js';

const session = harnessSession();
const SMSCS = ['sim-a', 'sim-b', 'sim-c'];

describe('actor isolation', () => {
  it('regression (a crash took down other SMSCs\' actors sharing its thread): crashing each actor in turn restarts only that one', async () => {
    const h = await session.start({ smscs: 3, binds: 1 });
    const sup = h.engine.supervisor;
    const upAll = () => SMSCS.every((s) => sup.actorState(s)?.running === true && sup.stats().find((x) => x.smsc === s)?.binds.every((b) => b.up) === true);
    await waitFor(upAll, 20_000, 'every actor bound');
    const threads = SMSCS.map((s) => sup.actorState(s)?.threadId);
    expect(new Set(threads).size).toBe(3); // a thread each
    const crashes: string[] = [];
    sup.on('crash', (smsc: string) => crashes.push(smsc));
    // Three crashes of each, the last by terminating its thread.
    for (let round = 0; round < 3; round++) {
      for (const [i, victim] of SMSCS.entries()) {
        const before = sup.actorState(victim)?.restarts ?? 0;
        const bindsBefore = h.sims.map((s) => s.stats.binds);
        if (round < 2) expect(sup.crashActor(victim)).toBe(true);
        else expect(await sup.killWorkerOf(victim)).toBe(true);
        await waitFor(() => (sup.actorState(victim)?.restarts ?? 0) > before && (h.sims[i]?.stats.binds ?? 0) > (bindsBefore[i] as number) && upAll(), 20_000, `${victim} back`);
        // Only the victim's SMSC saw a new bind.
        h.sims.forEach((s, k) => expect(`${SMSCS[k]}:${s.stats.binds - (bindsBefore[k] as number)}`).toBe(`${SMSCS[k]}:${k === i ? 1 : 0}`));
      }
    }
    expect(crashes).toEqual([...SMSCS, ...SMSCS, ...SMSCS]);
    // The restarted actors each still have a thread to themselves.
    expect(new Set(SMSCS.map((s) => sup.actorState(s)?.threadId)).size).toBe(3);
  }, 120_000);
});
