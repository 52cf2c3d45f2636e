/**
 * Worker threads run compiled JavaScript. When the engine itself runs from
 * TypeScript sources (vitest), map a source path to its build in dist/.
 */
import { fileURLToPath } from 'node:url';

export function workerScript(relativeToCaller: string, callerUrl: string): string {
  const url = new URL(relativeToCaller, callerUrl);
  const path = fileURLToPath(url);
  if (!callerUrl.endsWith('.ts')) return path;
  const m = /^(.*)[\\/](engine[\\/].*)\.js$/.exec(path);
  if (m === null) throw new Error(`cannot map ${path} to dist/`);
  return `${m[1]}/dist/${m[2]}.js`;
}
