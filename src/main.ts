#!/usr/bin/env node
/**
 * objectcache-operator: runs the kubelet's watch-based Secret and ConfigMap cache for every Pod
 * of the cluster and publishes its state as CachedObjectStatus resources.
 *
 * Exit codes: 0 after SIGTERM or SIGINT and a clean shutdown; 1 on a runtime failure or lost
 * leadership (the process is meant to be restarted); 2 on bad flags, a bad config file or a
 * kubeconfig that cannot be loaded.
 */

// Signals are caught before any module of the operator loads, so that a SIGTERM at any moment
// of the start-up is a clean shutdown (exit 0), not a kill.
const stop = new AbortController();
const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);

const { main } = await import('./operator/cli.ts');
const { describeError } = await import('./util/logger.ts');

// Exit explicitly: every watch, timer and server is closed by now, and a stray handle of a
// library must not keep a stopped operator alive.
main(process.argv.slice(2), stop.signal).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`objectcache-operator: ${describeError(err)}\n`);
    process.exit(1);
  },
);
