#!/usr/bin/env node
/**
 * objectcache-operator: runs the kubelet's watch-based Secret and ConfigMap cache for every Pod
 * of the cluster and publishes its state as CachedObjectStatus resources.
 *
 * Exit codes: 0 after SIGTERM or SIGINT and a clean shutdown; 1 on a runtime failure or lost
 * leadership (the process is meant to be restarted); 2 on bad flags, a bad config file or a
 * kubeconfig that cannot be loaded.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { isConfigError, loadConfig, type LogLevel } from './operator/config.ts';
import { LOG_LEVELS } from './operator/config-schema.ts';
import { startHttpServer } from './operator/http-server.ts';
import { KubeConfigError, loadKubeConfig } from './operator/kubeconfig.ts';
import { leaderIdentity } from './operator/leader-election.ts';
import { createLogger } from './operator/logging.ts';
import { Operator } from './operator/operator.ts';
import { describeError } from './util/logger.ts';

const USAGE = `Usage: objectcache-operator [--config FILE] [--kubeconfig FILE] [--log-level LEVEL]

  --config FILE       YAML configuration (see manifests/config.yaml); defaults apply without it
  --kubeconfig FILE   credentials; otherwise $KUBECONFIG, in-cluster, then ~/.kube/config
  --log-level LEVEL   one of ${LOG_LEVELS.join(', ')}; overrides the config file
  --help              print this text
`;

async function main(argv: string[]): Promise<number> {
  // Signals are caught before anything starts, so that a SIGTERM during start-up is a clean
  // shutdown (exit 0), not a kill.
  const controller = new AbortController();
  let onShutdown = (): void => undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    controller.abort(signal);
    onShutdown();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let flags;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const level = flags['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    process.stderr.write(`--log-level: must be one of ${LOG_LEVELS.join(', ')}\n`);
    return 2;
  }

  if (flags.config === '') {
    process.stderr.write('--config: needs the path of a file\n');
    return 2;
  }

  let config;
  try {
    config = await loadConfig(flags.config);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }

  const logging = createLogger((level as LogLevel | undefined) ?? config.logLevel);
  const logger = logging.logger;
  let kubeConfig, source;
  try {
    ({ kubeConfig, source } = loadKubeConfig(flags.kubeconfig));
  } catch (err) {
    if (!(err instanceof KubeConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    await logging.close();
    return 2;
  }
  const identity = leaderIdentity(process.env.POD_NAME ?? hostname());
  logger.info('Starting objectcache-operator', {
    identity,
    kubeconfig: source,
    server: kubeConfig.getCurrentCluster()?.server,
    namespaces: config.namespaces,
  });

  const operator = new Operator({ config, kubeConfig, logger, identity });
  const server = await startHttpServer({
    host: config.server.host,
    port: config.server.port,
    logger,
    isLive: () => true,
    isReady: () => operator.ready(),
    metrics: () => operator.metrics(),
  });

  onShutdown = () => logger.info('Shutting down', { signal: String(controller.signal.reason) });
  if (controller.signal.aborted) onShutdown();

  const outcome = await operator.run(controller.signal);
  await server.close();
  logger.info('Stopped', { outcome });
  await logging.close();
  return outcome === 'stopped' ? 0 : 1;
}

main(process.argv.slice(2)).then(
  // Exit explicitly: every watch, timer and server is closed by now, and a stray handle of a
  // library must not keep a stopped operator alive.
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`objectcache-operator: ${describeError(err)}\n`);
    process.exit(1);
  },
);
