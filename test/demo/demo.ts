/**
 * Demo (temporary): starts the local control plane, prints `kubectl get namespaces`, stops it.
 * Exits 0 on success, 1 with the reason on failure.
 */
import { startControlPlane } from '../cluster/control-plane.ts';

async function main(): Promise<void> {
  const plane = await startControlPlane();
  try {
    process.stdout.write(await plane.kubectl(['get', 'namespaces']));
  } finally {
    await plane.stop();
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
