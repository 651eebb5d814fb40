/** Where facekit keeps what it can always make again (embeddings, galleries of folders, converted models). */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default cache folder: $XDG_CACHE_HOME/facekit, else ~/.cache/facekit. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'facekit');
}
