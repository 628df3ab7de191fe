import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** True when the module at `moduleUrl` (pass `import.meta.url`) is the script node was started with. */
export function isEntry(moduleUrl: string): boolean {
  const a = process.argv[1];
  if (!a) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(a)).href;
  } catch {
    return false;
  }
}
