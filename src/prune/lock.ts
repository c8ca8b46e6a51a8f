/**
 * An output lock: `<out>.lock`, created with O_EXCL and holding the owner's pid and host, so two
 * runs can never share an output or its state. A lock whose owner is a dead process on this host
 * is stale and taken over; any other existing lock refuses the run up front.
 *
 * @module
 */
import { hostname } from "node:os";
import { ToolkitError } from "../errors.ts";

/** What a lock file holds. */
export interface LockInfo {
  /** Owner process id. */
  pid: number;
  /** Owner host name. */
  host: string;
  /** When the lock was taken (ISO 8601). */
  started: string;
  /** The command holding it. */
  command: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  startTicks?: string;
}

function procStat(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` (started at `startTicks`, when known) is alive on this host
 * (Linux: /proc; elsewhere: assumed alive).
 */
export function processAlive(pid: number, startTicks?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return startTicks === undefined || startTicks === procStat(pid)?.[19];
  if (Deno.build.os !== "linux") return true;
  const f = procStat(pid);
  if (!f) return false;
  // A zombie (state Z) has exited; a different start time means the pid was reused.
  if (f[0] === "Z" || f[0] === "X") return false;
  return startTicks === undefined || f[19] === startTicks;
}

/** A held lock; {@link OutputLock.release} removes the file (only if it is still ours). */
export class OutputLock {
  /** Path of the lock file. */
  readonly path: string;
  private readonly token: string;
  /** The signal handlers acquire() installed (removed once guard() has its own, or on release). */
  private early?: EarlySignals;
  private constructor(path: string, token: string) {
    this.path = path;
    this.token = token;
  }

  /**
   * Takes the lock at `path` for `what` (the output it protects), or throws a one-line
   * ToolkitError naming the live owner.
   *
   * @example
   * ```ts
   * import { OutputLock } from "./lock.ts";
   * const dir = await Deno.makeTempDir();
   * const lock = await OutputLock.acquire(`${dir}/out.lock`, `${dir}/out`);
   * await lock.release();
   * ```
   */
  static async acquire(path: string, what: string): Promise<OutputLock> {
    let lock: OutputLock | undefined;
    try {
      lock = await OutputLock.#acquire(path, what);
      return lock;
    } finally {
      if (!lock) EarlySignals.last?.remove();
    }
  }

  static async #acquire(path: string, what: string): Promise<OutputLock> {
    const info: LockInfo = {
      pid: Deno.pid,
      host: hostname(),
      started: new Date().toISOString(),
      command: "prune",
      startTicks: procStat(Deno.pid)?.[19],
    };
    const text = JSON.stringify(info) + "\n";
    // Ctrl-C / SIGTERM is answered from before the file exists: a signal arriving between its
    // creation and guard() would otherwise kill the process with the lock left behind.
    let created = false;
    const early = new EarlySignals(() => {
      if (created) {
        try {
          // ours (createNew succeeded), possibly not fully written yet
          if (text.startsWith(Deno.readTextFileSync(path))) Deno.removeSync(path);
        } catch {
          // already gone
        }
      }
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const f = await Deno.open(path, { write: true, createNew: true });
        created = true;
        try {
          await f.write(new TextEncoder().encode(text));
        } finally {
          f.close();
        }
        const lock = new OutputLock(path, text);
        lock.early = early;
        return lock;
      } catch (e) {
        if (created) {
          early.remove();
          await Deno.remove(path).catch(() => {});
          throw new ToolkitError(`${path}: cannot write the lock file (${(e as Error).message})`);
        }
        if (!(e instanceof Deno.errors.AlreadyExists)) {
          throw new ToolkitError(`${path}: cannot create the lock file (${(e as Error).message})`);
        }
      }
      let owner: Partial<LockInfo> | undefined;
      let raw = "";
      try {
        raw = await Deno.readTextFile(path);
        owner = JSON.parse(raw);
      } catch {
        owner = undefined; // unreadable or half-written: decided below
      }
      const sameHost = owner?.host === hostname();
      if (
        owner && sameHost && typeof owner.pid === "number" &&
        !processAlive(owner.pid, owner.startTicks)
      ) {
        // Stale: the owner died (kill -9, power loss). Take it over only if nobody else did.
        const now = await Deno.readTextFile(path).catch(() => "");
        if (now === raw) await Deno.remove(path).catch(() => {});
        continue;
      }
      if (!owner) {
        // A lock being written right now, or garbage: give the writer a moment, then re-check.
        const st = await Deno.stat(path).catch(() => undefined);
        if (st && st.mtime && Date.now() - st.mtime.getTime() < 5000) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        throw new ToolkitError(
          `${path}: a lock file that is not a sprint-wgpu lock guards ${what}; delete it if no prune is running`,
        );
      }
      throw new ToolkitError(
        `${what} is in use by another prune (pid ${owner.pid} on ${owner.host}, since ${owner.started}); ` +
          `wait for it, or delete ${path} if that process is gone`,
      );
    }
    throw new ToolkitError(`${path}: could not take the lock (another run is taking it)`);
  }

  /** Synchronous {@link OutputLock.release} (for signal handlers). */
  releaseSync(): void {
    try {
      if (Deno.readTextFileSync(this.path) === this.token) Deno.removeSync(this.path);
    } catch {
      // already gone
    }
  }

  /**
   * Releases the lock and exits (130 / 143) on Ctrl-C or SIGTERM while `fn` runs; a leftover
   * partial state or model folder is cleaned up by the next run.
   */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    const handlers: [Deno.Signal, () => void][] = (["SIGINT", "SIGTERM"] as const).map((sig) => [
      sig,
      () => {
        this.releaseSync();
        console.error(`\ninterrupted (${sig}); rerun with --resume to continue`);
        Deno.exit(sig === "SIGINT" ? 130 : 143);
      },
    ]);
    const added: typeof handlers = [];
    for (const [sig, h] of handlers) {
      try {
        Deno.addSignalListener(sig, h);
        added.push([sig, h]);
      } catch {
        // signal not supported on this platform
      }
    }
    this.early?.remove();
    try {
      return await fn();
    } finally {
      for (const [sig, h] of added) Deno.removeSignalListener(sig, h);
      await this.release();
    }
  }

  /** Removes the lock file if it still holds this run's lock. */
  async release(): Promise<void> {
    this.early?.remove();
    const now = await Deno.readTextFile(this.path).catch(() => "");
    if (now === this.token) await Deno.remove(this.path).catch(() => {});
  }
}

/** SIGINT / SIGTERM handlers that run `cleanup` and exit 130 / 143, until removed. */
class EarlySignals {
  /** The most recently installed set (acquire() removes it when it fails). */
  static last: EarlySignals | undefined;
  private readonly added: [Deno.Signal, () => void][] = [];
  constructor(cleanup: () => void) {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const h = () => {
        cleanup();
        console.error(`\ninterrupted (${sig}); rerun with --resume to continue`);
        Deno.exit(sig === "SIGINT" ? 130 : 143);
      };
      try {
        Deno.addSignalListener(sig, h);
        this.added.push([sig, h]);
      } catch {
        // signal not supported on this platform
      }
    }
    EarlySignals.last = this;
  }
  /** Removes the handlers (idempotent). */
  remove(): void {
    for (const [sig, h] of this.added.splice(0)) Deno.removeSignalListener(sig, h);
  }
}
