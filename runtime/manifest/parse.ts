/**
 * Manifest text to a validated {@linkcode Manifest}: YAML (or JSON) syntax, then the schema, then the
 * cross-section checks, with every issue of all three reported at once, each with its path and line.
 *
 * @module
 */
import { formatPath, type ManifestDocument, type RawIssue, readDocument } from "./_document.ts";
import { errorMap, fromZodIssues } from "./_issues.ts";
import { checkManifest } from "./check.ts";
import { ManifestError, type ManifestIssue } from "./errors.ts";
import { type Manifest, ManifestSchema } from "./schema.ts";

/** Options of {@linkcode parseManifest}. */
export interface ParseManifestOptions {
  /**
   * The file the text came from, named in the error message.
   * @default {undefined} the message names no file
   */
  readonly path?: string;
}

/**
 * Parses and validates a manifest (YAML or JSON) and applies its defaults.
 *
 * @example
 * ```ts
 * import { parseManifest } from "./parse.ts";
 *
 * const manifest = parseManifest(`
 * version: 1
 * device: { id: gw-1 }
 * modules: {}
 * `);
 * manifest.api.listen; // "127.0.0.1:8080"
 * ```
 *
 * @throws {ManifestError} listing every problem found, each with its path and line.
 */
export function parseManifest(text: string, options: ParseManifestOptions = {}): Manifest {
  const { doc, issues, manifest } = validateManifest(text);
  if (issues.length > 0 || manifest === undefined) {
    throw new ManifestError(toIssues(doc, issues), options.path ?? null);
  }
  return manifest;
}

/** The outcome of validating manifest text; never thrown, for callers that add their own checks. */
export interface Validation {
  /** The parsed document: its data and the position of any path. */
  readonly doc: ManifestDocument;
  /** Every problem found so far, unlocated. */
  readonly issues: readonly RawIssue[];
  /** The manifest with defaults applied, when the schema accepted it. */
  readonly manifest: Manifest | undefined;
}

/** Runs the YAML, schema and cross-section checks and collects their issues without throwing. */
export function validateManifest(text: string): Validation {
  const doc = readDocument(text);
  if (doc.hasSyntaxErrors) return { doc, issues: doc.issues, manifest: undefined };
  if (doc.data === undefined || doc.data === null) {
    return {
      doc,
      issues: [{ path: [], message: "The manifest is empty", line: 1, column: 1 }],
      manifest: undefined,
    };
  }
  const result = ManifestSchema.safeParse(doc.data, { error: errorMap, reportInput: true });
  const issues = [
    ...doc.issues,
    ...(result.success ? [] : fromZodIssues(result.error.issues, doc.data)),
    ...checkManifest(doc.data),
  ];
  return { doc, issues, manifest: result.success ? result.data : undefined };
}

/** Locates raw issues, formats their paths, and sorts them in source order. */
export function toIssues(doc: Pick<ManifestDocument, "locate">, raw: readonly RawIssue[]): ManifestIssue[] {
  const issues = raw.map((issue): ManifestIssue => {
    const position = issue.line === undefined
      ? doc.locate(issue.path)
      : { line: issue.line, column: issue.column };
    const base = { path: formatPath(issue.path), message: issue.message, ...issue.detail };
    if (position === undefined) return base;
    return position.column === undefined
      ? { ...base, line: position.line }
      : { ...base, line: position.line, column: position.column };
  });
  // Stable sort: issues on one line keep the order they were found in.
  return issues.sort((a, b) =>
    (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0)
  );
}
