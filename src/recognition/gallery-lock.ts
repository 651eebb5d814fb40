/**
 * The gallery lock: one writer at a time (a build-db, a `db` edit, a server adding people), across
 * processes. The lock is a file created atomically next to the gallery.
 */
import { closeSync, fsyncSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { hostname } from 'node:os';
import { FacekitError, fsError } from '../core/errors.js';

/** A lock whose holder cannot be read (empty, half-written, damaged) is stale after this long. */
const UNREADABLE_LOCK_STALE_MS = 10_000;

interface Holder { pid?: number; host?: string; since?: string }

/** Who holds the lock, and whether that holder is gone (dead process on this host, or an old unreadable file). */
function inspect(lockPath: string): { holder: Holder; stale: boolean; raw: string | undefined } {
  let raw: string | undefined;
  try {
    raw = readFileSync(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { holder: {}, stale: true, raw: undefined };
  }
  let holder: Holder | undefined;
  try {
    holder = raw ? (JSON.parse(raw) as Holder) : undefined;
  } catch {
    holder = undefined;
  }
  if (!holder || typeof holder.pid !== 'number') {
    // Being written right now looks the same for a moment; only an old file is treated as abandoned.
    return { holder: {}, stale: ageMs(lockPath) > UNREADABLE_LOCK_STALE_MS, raw };
  }
  return { holder, stale: holder.host === hostname() && !processAlive(holder.pid), raw };
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Remove a stale lock so that exactly one of several processes doing the same can then take it.
 * Taking over goes through a second lock file (`.lock.takeover`): only its holder removes the
 * stale lock, after checking that it is still the same stale file, so two processes can never
 * both believe they removed the stale lock and then both hold a new one.
 */
function takeOver(lockPath: string, staleRaw: string | undefined): void {
  const guard = `${lockPath}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, guard);
    // Someone else is taking over; a guard left by a process killed at this very moment expires.
    if (ageMs(guard) > UNREADABLE_LOCK_STALE_MS) {
      try { unlinkSync(guard); } catch { /* gone already */ }
    }
    return;
  }
  try {
    let now: string | undefined;
    try {
      now = readFileSync(lockPath, 'utf8');
    } catch {
      now = undefined;
    }
    if (now !== undefined && now === staleRaw) unlinkSync(lockPath);
  } finally {
    closeSync(fd);
    try { unlinkSync(guard); } catch { /* already gone */ }
  }
}

/**
 * An exclusive lock file next to the gallery (`gallery.json.lock`), created atomically. A lock
 * left by a process that no longer runs (or an unreadable one, after a while) is taken over.
 */
export function acquireLock(dbPath: string): () => void {
  const lockPath = `${dbPath}.lock`;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, mine);
      fsyncSync(fd);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          // Only our own lock: never remove one that another process took over meanwhile.
          if (readFileSync(lockPath, 'utf8') === mine) unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, lockPath);
      const { holder, stale, raw } = inspect(lockPath);
      if (stale) {
        takeOver(lockPath, raw);
        continue;
      }
      throw new FacekitError('gallery_locked',
        `gallery is being written by another facekit (pid ${holder.pid ?? '?'}${holder.since ? ` since ${holder.since}` : ''}); wait for it, or delete ${basename(lockPath)} if that process is gone`, dbPath);
    }
  }
  throw new FacekitError('gallery_locked', 'could not take the gallery lock (another process is taking it over right now); try again', dbPath);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The gallery lock, waiting a little when another writer (a build-db, a server's add) holds it. */
export async function acquireLockWaiting(dbPath: string, waitMs = 3000): Promise<() => void> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireLock(dbPath);
    } catch (err) {
      if (!(err instanceof FacekitError) || err.code !== 'gallery_locked' || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
