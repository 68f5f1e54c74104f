/**
 * Free TCP ports on the loopback interface, for servers that take their port on the command
 * line. The ports are free when returned; another process may still take one before the server
 * binds it, so callers retry start-up when a server reports the address in use.
 */
import { createServer } from 'node:net';
import type { Server } from 'node:net';

/**
 * Returns `count` distinct ports that were free on 127.0.0.1. All are held open at the same
 * time before being released, so they are never the same port twice.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      servers.push(await listenOnAnyPort());
    }
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(closeServer));
  }
}

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('a loopback listener has no TCP port');
  }
  return address.port;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
