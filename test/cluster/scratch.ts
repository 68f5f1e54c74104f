/**
 * Scratch folders of local control planes (`objectcache-cp-*` in the temporary folder). Each
 * records the PID of the process that owns it, so that a folder left behind by a test process
 * that was killed (no exit handler runs on SIGKILL) is removed by the next start.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'objectcache-cp-';
const OWNER_FILE = 'owner.pid';

/** Creates a fresh scratch folder under `parent`, owned by this process. */
export async function createScratchDir(parent: string): Promise<string> {
  const dir = await mkdtemp(join(parent, PREFIX));
  await writeFile(join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

/**
 * Removes scratch folders under `parent` whose owner process no longer runs. Folders without
 * an owner file, or owned by a live process, are left alone. Resolves with the removed paths.
 */
export async function removeStaleScratchDirs(parent: string): Promise<string[]> {
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(PREFIX)) {
      continue;
    }
    const dir = join(parent, entry.name);
    const owner = await readOwner(dir);
    if (owner !== undefined && !isAlive(owner)) {
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

async function readOwner(dir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(dir, OWNER_FILE), 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// Signal 0 checks existence only. EPERM means it exists but belongs to someone else.
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}
