/**
 * Tenants' SMPP credentials (system_id + password), behind a small port so
 * that the tenants-as-data work (tenants and keys stored in Redis, issue 15)
 * can feed it instead of the config: `SmppCredentials.verify` is all the
 * server asks.
 *
 * SMPP passwords are at most 8 characters, low entropy: kept only as scrypt
 * hashes (random salt each, N=2^14), hashed once at load; a bind's password
 * is hashed the same way (libuv's thread pool, off the event loop) and the two
 * compared with timingSafeEqual. An unknown system_id is checked against a
 * dummy hash, so both wrong parts cost the same and answer the same
 * (ESME_RBINDFAIL): nothing tells which part was wrong.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: ScryptOptions) => Promise<Buffer>;
const KEY_LEN = 32;
const PARAMS: ScryptOptions = { N: 2 ** 14, r: 8, p: 1 };

/** What a successful bind learns about its tenant. */
export interface SmppAccount {
  readonly tenant: string;
  readonly systemId: string;
  readonly maxBinds: number;
  /** What data_coding 0 means for this customer. */
  readonly dataCoding0: 'gsm7' | 'latin1';
}

/** The port: the account of a system_id and password, or undefined (either part wrong). */
export interface SmppCredentials {
  verify(systemId: string, password: string): Promise<SmppAccount | undefined>;
}

export interface HashedPassword {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export async function hashPassword(password: string, salt: Buffer = randomBytes(16)): Promise<HashedPassword> {
  return { salt, hash: await scrypt(password, salt, KEY_LEN, PARAMS) };
}

export async function checkPassword(password: string, h: HashedPassword): Promise<boolean> {
  const got = await scrypt(password, h.salt, KEY_LEN, PARAMS);
  return timingSafeEqual(got, h.hash);
}

/** Credentials from the config (tenants[].smpp), hashed at load. */
export class ConfigSmppCredentials implements SmppCredentials {
  private constructor(
    private readonly accounts: ReadonlyMap<string, { account: SmppAccount; password: HashedPassword }>,
    private readonly dummy: HashedPassword,
  ) {}

  static async load(tenants: ReadonlyArray<SmppAccount & { readonly password: string }>): Promise<ConfigSmppCredentials> {
    const m = new Map<string, { account: SmppAccount; password: HashedPassword }>();
    for (const { password, ...account } of tenants) m.set(account.systemId, { account, password: await hashPassword(password) });
    return new ConfigSmppCredentials(m, await hashPassword(randomBytes(12).toString('hex')));
  }

  get size(): number {
    return this.accounts.size;
  }

  async verify(systemId: string, password: string): Promise<SmppAccount | undefined> {
    const a = this.accounts.get(systemId);
    const ok = await checkPassword(password, a?.password ?? this.dummy);
    return a !== undefined && ok ? a.account : undefined;
  }
}
