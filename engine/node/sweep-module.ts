/**
 * The expiry sweep (engine/queue/lua/sweep.lua), shared by every node: messages
 * whose validity ran out end expired when nothing of them can reach an SMSC any
 * more; past validity + grace the rest end expired (never sent) or unknown (no
 * receipt).
 *
 * 1,000 messages per shard and script call (each call holds Redis for a few ms),
 * as many calls as are due, up to 20 a second: an SMSC that sends no receipts at
 * full rate ends 10,000 messages a second of them, and a backlog of due messages
 * drains at 20,000/s per shard without starving the rest.
 */
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export function sweepModule(ctx: NodeContext): NodeModule {
  let timer: NodeJS.Timeout | undefined;
  let sweeping = false;
  const sweep = async (): Promise<void> => {
    sweeping = true;
    try {
      for (let calls = 0; calls < 20 && (await ctx.store.sweepExpired(Date.now(), 1000, ctx.config.messages.receiptGraceSec)) === 1000; calls++);
    } catch (err) {
      ctx.log('warn', `expiry sweep failed: ${(err as Error).message}`);
    } finally {
      sweeping = false;
    }
  };
  return {
    name: 'expiry sweep',
    start() {
      timer = setInterval(() => void (sweeping || sweep()), 1000);
    },
    stop: () => clearInterval(timer),
  };
}
