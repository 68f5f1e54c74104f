/**
 * The demo's output: numbered steps, short indented details, and commands with their real
 * output, so that a reader can follow along and type the same commands.
 */

/** Writes the demo's narration to one stream. */
export class Narrator {
  readonly #write: (text: string) => void;
  readonly #steps: number;
  #step = 0;
  #afterBlankLine = true;

  /** `write` receives whole lines; `steps` is the number of steps the demo announces. */
  constructor(write: (text: string) => void, steps: number) {
    this.#write = write;
    this.#steps = steps;
  }

  /** Announces the next step. */
  step(title: string): void {
    this.#step += 1;
    this.#emit(`[${this.#step}/${this.#steps}] ${title}\n`);
  }

  /** One line of detail under the current step. */
  detail(text: string): void {
    this.#emit(`      ${text}\n`);
  }

  /** A command as the user would type it, then its output, set apart by blank lines. */
  command(command: string, output: string): void {
    const before = this.#afterBlankLine ? '' : '\n';
    this.#emit(`${before}$ ${command}\n${output.trimEnd()}\n\n`);
  }

  /** A line without indentation. */
  line(text: string): void {
    this.#emit(`${text}\n`);
  }

  #emit(text: string): void {
    this.#write(text);
    this.#afterBlankLine = text.endsWith('\n\n');
  }
}

/** Seconds since `startedAt` (a `performance.now()` value), e.g. `3.1 s`. */
export function secondsSince(startedAt: number): string {
  return `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
}
