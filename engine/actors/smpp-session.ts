/**
 * The adapter between the operator actor's `SmscSession` port and the SMPP
 * layer: one bound transceiver SmppConnection per bind.
 */
import { SmppConnection } from '../smpp/index.js';
import type { ActorSmscConfig } from './messages.js';
import type { SmscSession } from './operator-actor.js';

export async function createSmppSession(smsc: ActorSmscConfig): Promise<SmscSession> {
  return await bindSession(smsc, undefined);
}

/** A bind whose connection checks `fence` before it writes its output (bind leases, engine/fleet/): false drops its submit_sm unwritten. */
export async function createFencedSmppSession(smsc: ActorSmscConfig, fence: () => boolean): Promise<SmscSession> {
  return await bindSession(smsc, fence);
}

async function bindSession(smsc: ActorSmscConfig, fence: (() => boolean) | undefined): Promise<SmscSession> {
  return await SmppConnection.bind({
    host: smsc.host,
    port: smsc.port,
    systemId: smsc.systemId,
    password: smsc.password,
    systemType: smsc.systemType,
    window: smsc.window,
    responseTimeoutMs: smsc.responseTimeoutMs,
    enquireLinkMs: smsc.enquireLinkSec * 1000,
    connectTimeoutMs: smsc.connectTimeoutMs,
    ...(fence === undefined ? {} : { fence }),
  });
}
