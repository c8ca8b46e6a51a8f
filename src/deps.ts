/**
 * External dependencies, pinned with full `npm:` specifiers so they resolve identically when the
 * toolkit is imported from a URL (an importer's import map does not apply to remote modules).
 *
 * @module
 */
// deno-lint-ignore no-import-prefix
export { median, quantile } from "npm:d3-array@3.2.4";
// deno-lint-ignore no-import-prefix
export { Tokenizer as HfTokenizer } from "npm:@huggingface/tokenizers@0.2.0";
