/**
 * Global setup of the integration tests (`node --test --test-global-setup=...`): builds the
 * control-plane binaries that are missing (minutes on a fresh clone, a second otherwise),
 * starts one control plane for the whole run, and hands it to the test files, which run in
 * child processes, through two environment variables: {@link CONNECTION_FILE_ENV} (connection
 * file) and {@link KUBECONFIG_ENV} (admin kubeconfig). The teardown stops it.
 */
import { CONNECTION_FILE_ENV, KUBECONFIG_ENV } from '../cluster/access.ts';
import { buildBinaries } from '../cluster/binaries.ts';
import { startControlPlane } from '../cluster/control-plane.ts';
import type { ControlPlane } from '../cluster/control-plane.ts';

// The runner calls setup and teardown as two functions of this module: this is their link.
let shared: ControlPlane | undefined;

/** Builds missing binaries and starts the shared control plane. */
export async function globalSetup(): Promise<void> {
  const binaries = await buildBinaries();
  shared = await startControlPlane({ binaries });
  process.env[CONNECTION_FILE_ENV] = shared.connectionFilePath;
  process.env[KUBECONFIG_ENV] = shared.kubeconfigPath;
}

/** Stops the shared control plane and removes its data. */
export async function globalTeardown(): Promise<void> {
  await shared?.stop();
  shared = undefined;
}
