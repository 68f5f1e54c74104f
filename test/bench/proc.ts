/**
 * Figures of a process read from outside it, the same way for the Go and the TypeScript
 * runner: resident memory from `/proc/<pid>/status` and its TCP connections to the API server
 * from `/proc/<pid>/fd` and `/proc/<pid>/net/tcp{,6}`. Linux only.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

/** Memory of a process, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (`VmRSS`). */
  readonly rssBytes: number;
  /** Peak resident set size since the process started (`VmHWM`). */
  readonly peakRssBytes: number;
}

/** Reads `VmRSS` and `VmHWM` of `pid`. Rejects when the process is gone. */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return {
    rssBytes: statusKilobytes(status, 'VmRSS') * 1024,
    peakRssBytes: statusKilobytes(status, 'VmHWM') * 1024,
  };
}

/** The value in kB of one `Key:   123 kB` line of `/proc/<pid>/status`; 0 when absent. */
export function statusKilobytes(status: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

/** One socket of `/proc/<pid>/net/tcp` or `tcp6`. */
export interface TcpSocket {
  readonly localPort: number;
  readonly remotePort: number;
  /** Kernel state code: 1 is ESTABLISHED, 10 is LISTEN. */
  readonly state: number;
  readonly inode: number;
}

/** TCP state code of an established connection. */
export const TCP_ESTABLISHED = 1;

/** Parses the table of `/proc/<pid>/net/tcp` or `tcp6` (the header line is skipped). */
export function parseProcNetTcp(text: string): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, remote, state, , , , , , inode] = fields;
    if (local === undefined || remote === undefined || state === undefined) continue;
    if (inode === undefined) continue;
    sockets.push({
      localPort: portOf(local),
      remotePort: portOf(remote),
      state: Number.parseInt(state, 16),
      inode: Number(inode),
    });
  }
  return sockets;
}

function portOf(address: string): number {
  return Number.parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
}

/**
 * Counts the established TCP connections that `pid` holds open to `remotePort` (the API
 * server's port): the sockets among its file descriptors whose peer is that port.
 */
export async function connectionsTo(pid: number, remotePort: number): Promise<number> {
  const inodes = await socketInodes(pid);
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const socket of parseProcNetTcp(text)) {
      if (socket.state !== TCP_ESTABLISHED || socket.remotePort !== remotePort) continue;
      if (inodes.has(socket.inode)) count++;
    }
  }
  return count;
}

async function socketInodes(pid: number): Promise<Set<number>> {
  const dir = `/proc/${pid}/fd`;
  const inodes = new Set<number>();
  for (const fd of await readdir(dir)) {
    const target = await readlink(`${dir}/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(Number(match[1]));
  }
  return inodes;
}
