/**
 * The CLI's usage text and README agree (issue 15): every command's usage
 * (engine/cli/cli-kit.ts, what `switchyard COMMAND --help` prints) is in
 * README's Commands block, written `node dist/engine/cli.js …`, and every
 * line of that block is a command's usage. Numeric options are checked by
 * name; a plain-string secret in a config says to use {env} or {file}.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import { COMMAND_USAGE, numberOption } from '../../engine/cli/cli-kit.js';
import { errorOf } from '../helpers/error-of.js';

/** The lines of the first code block after "## Commands". */
function readmeCommands(): string[] {
  const md = readFileSync('README.md', 'utf8');
  const from = md.indexOf('## Commands\n');
  const open = md.indexOf('```\n', from) + 4;
  return md.slice(open, md.indexOf('\n```', open)).split('\n');
}

describe('CLI usage and README', () => {
  it('README\'s Commands block holds exactly the usage lines of every command', () => {
    const fromUsage = Object.values(COMMAND_USAGE).flatMap((u) => u.split('\n')).map((l) => l.replace(/^switchyard /, 'node dist/engine/cli.js '));
    expect(readmeCommands()).toEqual(fromUsage);
  });

  it('numeric options are checked by name', () => {
    expect(errorOf(() => numberOption('rate', 'abc', { min: 1, max: 10 })).message).toBe('--rate must be a whole number from 1 to 10, got "abc"');
    expect(errorOf(() => numberOption('duration', '', { min: 1, max: 10 })).message).toContain('--duration');
    expect(errorOf(() => numberOption('port', '1.5', { min: 0, max: 65_535 })).message).toContain('whole number');
    expect(errorOf(() => numberOption('mo-stop-share', '2', { min: 0, max: 1, integer: false })).message).toBe('--mo-stop-share must be a number from 0 to 1, got "2"');
    expect(numberOption('mo-stop-share', '0.25', { min: 0, max: 1, integer: false })).toBe(0.25);
    expect(numberOption('tps', undefined, { min: 1, max: 10, optional: true })).toBeUndefined();
  });

  it('a secret written as a plain string says to use {env} or {file}', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sy-cli-')), 'c.json');
    writeFileSync(file, JSON.stringify({
      tenants: [{ id: 'acme', apiKey: 'sk_live_123' }],
      smscs: [{ id: 'a', port: 2775, systemId: 's', password: { env: 'X' } }],
      routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'a', price: 1 }] }] }] },
    }));
    const e = errorOf(() => loadConfig(file));
    expect(e.message).toContain(`${file}: tenants[0].apiKey: a secret is never written in the config file: give {"env": "VAR_NAME"}`);
    expect(e.message).not.toContain('sk_live_123');
  });
});
