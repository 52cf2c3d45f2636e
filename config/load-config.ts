/**
 * Loads and validates a Switchyard config: JSON file or object → schema → cross
 * checks (ids unique, routes point at configured SMSCs) → deep-frozen result.
 * Every error names the file, the key path and what is wrong, and a renamed key
 * names its replacement.
 */
import { readFileSync } from 'node:fs';
import { SwitchyardError } from '../engine/errors.js';
import { configSchema, REMOVED_KEYS, RENAMED_KEYS, type SecretRef, type SwitchyardConfig } from './schema.js';

export type Config = Readonly<SwitchyardConfig>;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(top level)' : out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** Validates a parsed config object. `source` names where it came from, for errors. */
export function parseConfig(raw: unknown, source = '<config>'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((k) => {
            const at = formatPath([...issue.path, k]);
            const renamed = RENAMED_KEYS[k];
            const removed = REMOVED_KEYS[k];
            return renamed
              ? `${source}: ${at}: key was renamed; use "${renamed}"`
              : removed
                ? `${source}: ${at}: key was removed: ${removed}`
                : `${source}: ${at}: unknown key`;
          })
          .join('\n');
      }
      return `${source}: ${formatPath(issue.path)}: ${issue.message}`;
    });
    throw new SwitchyardError('CONFIG_INVALID', lines.join('\n'));
  }
  const cfg = result.data;
  const problems: string[] = [];
  const seen = (list: ReadonlyArray<{ id: string }>, what: string) => {
    const ids = new Set<string>();
    list.forEach((item, i) => {
      if (ids.has(item.id)) problems.push(`${source}: ${what}[${i}].id: duplicate id "${item.id}"`);
      ids.add(item.id);
    });
    return ids;
  };
  seen(cfg.tenants, 'tenants');
  seen(cfg.smscs, 'smscs');
  problems.push(...checkRouting(cfg, source));
  problems.push(...checkInbound(cfg, source));
  problems.push(...checkSmppSystemIds(cfg, source));
  if (cfg.messages.defaultValiditySec > cfg.messages.maxValiditySec)
    problems.push(`${source}: messages.defaultValiditySec: must be <= messages.maxValiditySec`);
  if (cfg.messages.minValiditySec > cfg.messages.defaultValiditySec)
    problems.push(`${source}: messages.minValiditySec: must be <= messages.defaultValiditySec`);
  if (cfg.redis.url !== undefined && /\/\/[^/@]*:[^/@]+@/.test(cfg.redis.url))
    problems.push(`${source}: redis.url: must not contain a password; set REDIS_URL in the environment instead`);
  if (problems.length > 0) throw new SwitchyardError('CONFIG_INVALID', problems.join('\n'));
  return deepFreeze(cfg);
}

/** Cross checks of the routing section: plans, SMSCs and tenants point at each other. */
export function checkRouting(cfg: Pick<SwitchyardConfig, 'routing' | 'smscs' | 'tenants'>, source: string): string[] {
  const problems: string[] = [];
  const smscIds = new Set(cfg.smscs.map((s) => s.id));
  const planIds = new Set<string>();
  cfg.routing.plans.forEach((p, pi) => {
    if (planIds.has(p.id)) problems.push(`${source}: routing.plans[${pi}].id: duplicate plan "${p.id}"`);
    planIds.add(p.id);
    const networks = new Set<string>();
    p.routes.forEach((r, ri) => {
      if (networks.has(r.network)) problems.push(`${source}: routing.plans[${pi}].routes[${ri}].network: "${r.network}" appears twice in plan "${p.id}"`);
      networks.add(r.network);
      r.candidates.forEach((c, ci) => {
        if (!smscIds.has(c.smsc)) problems.push(`${source}: routing.plans[${pi}].routes[${ri}].candidates[${ci}].smsc: no SMSC with id "${c.smsc}" is configured`);
      });
    });
  });
  cfg.tenants.forEach((t, i) => {
    if (t.routePlan !== undefined && !planIds.has(t.routePlan)) problems.push(`${source}: tenants[${i}].routePlan: no plan "${t.routePlan}" in routing.plans`);
    if (t.forceSmsc !== undefined && !smscIds.has(t.forceSmsc)) problems.push(`${source}: tenants[${i}].forceSmsc: no SMSC with id "${t.forceSmsc}" is configured`);
    t.blockedSmscs.forEach((s, k) => {
      if (!smscIds.has(s)) problems.push(`${source}: tenants[${i}].blockedSmscs[${k}]: no SMSC with id "${s}" is configured`);
    });
  });
  return problems;
}

/** MO attribution: inbound numbers belong to one tenant each, and the default tenant exists. */
function checkInbound(cfg: SwitchyardConfig, source: string): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  cfg.tenants.forEach((t, i) => {
    t.inboundNumbers.forEach((n, k) => {
      const key = n.replace(/^\+/, '');
      const other = owner.get(key);
      if (other !== undefined && other !== t.id) problems.push(`${source}: tenants[${i}].inboundNumbers[${k}]: "${n}" is already tenant "${other}"'s`);
      owner.set(key, t.id);
    });
  });
  if (cfg.mo.defaultTenant !== undefined && !cfg.tenants.some((t) => t.id === cfg.mo.defaultTenant))
    problems.push(`${source}: mo.defaultTenant: no tenant "${cfg.mo.defaultTenant}" is configured`);
  return problems;
}

/** SMPP credentials: one tenant per system_id (a bind names its tenant by it). */
function checkSmppSystemIds(cfg: SwitchyardConfig, source: string): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  cfg.tenants.forEach((t, i) => {
    if (t.smpp === undefined) return;
    const other = owner.get(t.smpp.systemId);
    if (other !== undefined) problems.push(`${source}: tenants[${i}].smpp.systemId: "${t.smpp.systemId}" is already tenant "${other}"'s`);
    owner.set(t.smpp.systemId, t.id);
  });
  return problems;
}

/** Reads, parses and validates a JSON config file. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwitchyardError('CONFIG_INVALID', `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SwitchyardError('CONFIG_INVALID', `${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(raw, file);
}

/**
 * Resolves a secret reference (environment variable or file). Secrets never sit
 * in config files; the error names the variable or file but never a value.
 */
export function resolveSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.env !== undefined) {
    const v = env[ref.env];
    if (v === undefined || v === '')
      throw new SwitchyardError('CONFIG_INVALID', `${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  const file = ref.file as string;
  try {
    const v = readFileSync(file, 'utf8').trim();
    if (v === '') throw new Error('file is empty');
    return v;
  } catch (err) {
    throw new SwitchyardError('CONFIG_INVALID', `${what}: cannot read secret file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
