/**
 * The embedded default model shipped in `data/models/` (trained by this project; see its model
 * card). Tasks use it when no `--model` is given.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Directory of the embedded default model (a local path when the toolkit runs from a checkout). */
export const DEFAULT_MODEL_DIR: string = (() => {
  const url = new URL("../../data/models/default", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : url.href;
})();
