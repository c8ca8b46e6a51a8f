/**
 * The CLI layer shared by every task: the declarative flag parser ({@link parseFlags},
 * `--help` generated from the same table) and the path checks run before any work.
 *
 * @module
 */
export * from "./flags.ts";
export * from "./paths.ts";
export * from "./commands.ts";
