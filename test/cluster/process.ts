/**
 * Child processes of the local control plane, tied to the life of the test process: each one is
 * started under `setpriv --pdeathsig KILL` when the machine has setpriv (util-linux), so the
 * kernel kills it if this process dies for any reason, and every live one is also killed from a
 * `process.on('exit')` handler. Output goes to a log file, never to a pipe, so that a chatty
 * server can never block on a full pipe.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How a process ended: its exit code, or the signal that killed it, or a spawn error. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

/** Options of {@link ManagedProcess.start}. */
export interface ManagedProcessOptions {
  /** Short name for messages, e.g. `etcd`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** File that receives stdout and stderr (appended). */
  readonly logPath: string;
  readonly cwd?: string;
}

/** A started child process that can be stopped by its PID and waited for. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Settles once, when the process has exited (or failed to spawn). Never rejects. */
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | undefined;

  private constructor(name: string, child: ChildProcess, logPath: string) {
    this.name = name;
    this.pid = child.pid ?? -1;
    this.logPath = logPath;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    void this.exited.then((exit) => {
      this.#exit = exit;
      liveProcesses.delete(this);
    });
  }

  /** Spawns the process. Returns at once; the process may still fail to start. */
  static start(options: ManagedProcessOptions): ManagedProcess {
    const logFd = openSync(options.logPath, 'a');
    try {
      const [command, args] = withParentDeathSignal(options.command, options.args);
      const child = spawn(command, args, {
        cwd: options.cwd,
        stdio: ['ignore', logFd, logFd],
      });
      const managed = new ManagedProcess(options.name, child, options.logPath);
      if (child.pid !== undefined) {
        trackForExit(managed);
      }
      return managed;
    } finally {
      closeSync(logFd);
    }
  }

  /** The exit, once the process has exited; undefined while it runs. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /**
   * Sends SIGTERM, then SIGKILL if the process is still alive after `graceMs`, and resolves
   * once it has exited. Idempotent; a process that already exited resolves at once.
   */
  async stop(graceMs = 5_000): Promise<ProcessExit> {
    if (this.#exit !== undefined || this.pid < 0) {
      return this.exited;
    }

    signalProcess(this.pid, 'SIGTERM');

    const timeout = new AbortController();
    const graceful = await Promise.race([
      this.exited,
      sleep(graceMs, undefined, { signal: timeout.signal }).catch(() => undefined),
    ]);
    timeout.abort();
    if (graceful !== undefined) {
      return graceful;
    }

    signalProcess(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** Kills the process at once, synchronously, without waiting. For exit handlers. */
  killNow(): void {
    if (this.#exit === undefined && this.pid > 0) {
      signalProcess(this.pid, 'SIGKILL');
    }
  }

  /** The last `lines` lines of the process's log, or a note when the log cannot be read. */
  logTail(lines = 40): string {
    return tailOfFile(this.logPath, lines);
  }
}

/** Describes an exit for messages: `exited with code 1`, `killed by SIGKILL`. */
export function describeExit(exit: ProcessExit): string {
  if (exit.error !== undefined) {
    return `failed to start: ${exit.error.message}`;
  }
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * Registers a synchronous cleanup to run when this process exits (after every tracked child
 * has been killed). Returns a function that unregisters it.
 */
export function onProcessExit(cleanup: () => void): () => void {
  installExitHandler();
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

/** The last `lines` lines of a text file, or a note when it cannot be read. */
export function tailOfFile(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(no log: ${error instanceof Error ? error.message : String(error)})`;
  }
}

const liveProcesses = new Set<ManagedProcess>();
const exitCleanups = new Set<() => void>();
let exitHandlerInstalled = false;
let setprivPath: string | null | undefined;

function trackForExit(managed: ManagedProcess): void {
  installExitHandler();
  liveProcesses.add(managed);
}

function installExitHandler(): void {
  if (exitHandlerInstalled) {
    return;
  }
  exitHandlerInstalled = true;
  process.once('exit', () => {
    for (const managed of liveProcesses) {
      managed.killNow();
    }
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch {
        // Best effort while exiting: one failed cleanup must not skip the others.
      }
    }
  });
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: it exited between the check and the signal, which is what we wanted anyway.
    if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) {
      throw error;
    }
  }
}

// setpriv execs the target in place, so the PID we hold is the server's own PID.
function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  const setpriv = findSetpriv();
  if (setpriv === null) {
    return [command, [...args]];
  }
  return [setpriv, ['--pdeathsig', 'KILL', '--', command, ...args]];
}

function findSetpriv(): string | null {
  if (setprivPath !== undefined) {
    return setprivPath;
  }
  setprivPath = null;
  if (process.platform !== 'linux') {
    return setprivPath;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      setprivPath = candidate;
      break;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return setprivPath;
}
