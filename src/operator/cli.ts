/**
 * The command line of the operator: flags, config, credentials, logging, the health server and
 * the operator itself, run until `stop` aborts. `src/main.ts` is the process entry.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { isConfigError, loadConfig, type LogLevel } from './config.ts';
import { LOG_LEVELS } from './config-schema.ts';
import { startHttpServer } from './http-server.ts';
import { KubeConfigError, loadKubeConfig } from './kubeconfig.ts';
import { leaderIdentity } from './leader-election.ts';
import { createLogger } from './logging.ts';
import { Operator } from './operator.ts';

const USAGE = `Usage: objectcache-operator [--config FILE] [--kubeconfig FILE] [--log-level LEVEL]

  --config FILE       YAML configuration (see manifests/config.yaml); defaults apply without it
  --kubeconfig FILE   credentials; otherwise $KUBECONFIG, in-cluster, then ~/.kube/config
  --log-level LEVEL   one of ${LOG_LEVELS.join(', ')}; overrides the config file
  --help              print this text
`;

/**
 * Runs the operator with the arguments `argv` until `stop` aborts (the entry aborts it on
 * SIGTERM and SIGINT). Resolves with the exit code: 0 after a clean shutdown; 1 after lost
 * leadership; 2 on bad flags, a bad config file or a kubeconfig that cannot be loaded.
 */
export async function main(argv: string[], stop: AbortSignal): Promise<number> {
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

  const onShutdown = (): void => logger.info('Shutting down', { signal: String(stop.reason) });
  if (stop.aborted) onShutdown();
  else stop.addEventListener('abort', onShutdown, { once: true });

  const outcome = await operator.run(stop);
  await server.close();
  logger.info('Stopped', { outcome });
  await logging.close();
  return outcome === 'stopped' ? 0 : 1;
}
