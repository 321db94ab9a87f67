/**
 * Assertions the manifest tests share. Test-only.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ManifestError, type ManifestIssue, parseManifest } from "./mod.ts";

/** The issues `parseManifest` throws for `text`; fails the test when it does not throw a ManifestError. */
export function issuesOf(text: string): readonly ManifestIssue[] {
  try {
    parseManifest(text);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
    assert.equal(err.code, "manifest_invalid");
    return err.issues;
  }
  assert.fail("expected the manifest to be refused");
}

/** The 1-based line of the first line of `text` containing `needle`. */
export function lineOf(text: string, needle: string): number {
  const index = text.split("\n").findIndex((line) => line.includes(needle));
  assert.ok(index >= 0, `"${needle}" not in the text`);
  return index + 1;
}

/** Asserts the issues are exactly these paths, each on the line of its needle; returns them. */
export function assertIssues(
  text: string,
  expected: [path: string, needle: string][],
): readonly ManifestIssue[] {
  const issues = issuesOf(text);
  assert.deepEqual(
    issues.map((i) => [i.path, i.line]),
    expected.map(([path, needle]) => [path, lineOf(text, needle)]),
    issues.map((i) => `${i.path}: ${i.message}`).join("\n"),
  );
  return issues;
}
