/**
 * The Redis target from the environment (REDIS_URL or REDIS_CLUSTER_NODES)
 * and the retry classification of Redis errors (engine/redis/connect-redis.ts).
 */
import { describe, expect, it } from 'vitest';
import { classifyRedisError, parseClusterNodes, redisTargetFromEnv } from '../../engine/redis/connect-redis.js';
import { SwitchyardError } from '../../engine/errors.js';

function errorOf(f: () => unknown): SwitchyardError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchyardError);
    return err as SwitchyardError;
  }
  throw new Error('no error');
}

describe('redis target', () => {
  it('parses seed nodes, with IPv6 in brackets and blanks ignored', () => {
    expect(parseClusterNodes('127.0.0.1:7000, 127.0.0.1:7001,,redis-a.internal:6379,[::1]:7002')).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
      { host: 'redis-a.internal', port: 6379 },
      { host: '::1', port: 7002 },
    ]);
  });

  it('refuses a node that is not host:port, naming the variable and the entry', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'redis://:pw@127.0.0.1:7000', 'a:b']) {
      const e = errorOf(() => parseClusterNodes(`127.0.0.1:7000,${bad}`));
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toContain(`REDIS_CLUSTER_NODES: "${bad}" is not host:port`);
    }
    expect(errorOf(() => parseClusterNodes(' , ')).message).toContain('REDIS_CLUSTER_NODES: no node given');
  });

  it('takes REDIS_CLUSTER_NODES (with REDIS_PASSWORD) or REDIS_URL, never both, nothing without either', () => {
    expect(redisTargetFromEnv({ REDIS_URL: 'redis://127.0.0.1:6390' })).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6390' });
    expect(redisTargetFromEnv({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_PASSWORD: 'pw' })).toEqual({
      kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 7000 }], password: 'pw', username: undefined,
    });
    expect(redisTargetFromEnv({ REDIS_URL: '', REDIS_CLUSTER_NODES: '' })).toBeUndefined();
    const both = errorOf(() => redisTargetFromEnv({ REDIS_URL: 'redis://127.0.0.1:6390', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }));
    expect(both.code).toBe('CONFIG_INVALID');
    expect(both.message).toContain('both set');
  });
});

describe('classifyRedisError', () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
  it('refused unrun: retry as is', () => {
    for (const m of [
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to \'no\'.',
    ]) expect(classifyRedisError(reply(m)), m).toBe('not-run');
    expect(classifyRedisError(new Error('Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down'))).toBe('not-run');
    expect(classifyRedisError(new Error("Cluster isn't ready and enableOfflineQueue options is false"))).toBe('not-run');
  });

  it('may have run: retry only if idempotent', () => {
    expect(classifyRedisError(new Error('Connection is closed.'))).toBe('maybe-run');
    expect(classifyRedisError(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'))).toBe('maybe-run');
    expect(classifyRedisError(Object.assign(new Error('Reached the max retries per request limit (which is 2). Refer to "maxRetriesPerRequest" option for details.'), { name: 'MaxRetriesPerRequestError' }))).toBe('maybe-run');
    expect(classifyRedisError(new Error('read ECONNRESET'))).toBe('maybe-run');
  });

  it('failed: will fail again', () => {
    expect(classifyRedisError(reply("CROSSSLOT Keys in request don't hash to the same slot"))).toBe('failed');
    expect(classifyRedisError(reply('ERR Error running script (call to f_x): @user_script:3: Script attempted to access a non local key in a cluster node'))).toBe('failed');
    expect(classifyRedisError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('failed');
    expect(classifyRedisError(reply('EXECABORT Transaction discarded because of previous errors.'))).toBe('failed');
    // refused by ioredis before sending: keys of several slots in one command, or a pipeline across nodes
    expect(classifyRedisError(new Error('All the keys in a pipeline command should belong to the same slot'))).toBe('failed');
    expect(classifyRedisError(new Error('All keys in the pipeline should belong to the same slots allocation group'))).toBe('failed');
  });
});
