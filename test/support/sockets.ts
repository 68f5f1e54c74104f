import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * Established TCP connections of this process to `port` on loopback, read from /proc (Linux).
 * Counts IPv4 and IPv6 sockets whose inode is one of this process's file descriptors.
 */
export async function connectionsTo(port: number): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(match[1]);
  }

  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const remote = fields[2];
      const state = fields[3];
      const inode = fields[9];
      // State 01 is ESTABLISHED.
      if (remote?.endsWith(`:${hexPort}`) && state === '01' && inode && inodes.has(inode)) {
        count++;
      }
    }
  }
  return count;
}
