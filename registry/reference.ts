/**
 * Image references as users write them: `registry.plant.local:5000/analytics/fft:2.3.1`, optionally with
 * `@sha256:<hex>`. Unlike Docker, there is no default registry: the first component must be a host (it has a
 * dot or a port, or is `localhost`), so a reference never goes to a public registry by accident.
 *
 * Grammar from the Distribution spec ("Pulling manifests"): a repository name matches
 * `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, a tag
 * `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
 *
 * @module
 */
import { ImageReferenceError } from "./errors.ts";

/** A parsed image reference. */
export interface ImageReference {
  /** `host[:port]`, e.g. `registry.plant.local:5000`. */
  readonly registry: string;
  /** Repository path, e.g. `analytics/fft`. */
  readonly repository: string;
  /** Tag, or null when only a digest was given. */
  readonly tag: string | null;
  /** `sha256:<64 hex>`, or null. When both are given the digest wins and the tag is informative. */
  readonly digest: string | null;
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$|^\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$/;

/**
 * Parses `host[:port]/repo/path[:tag][@sha256:hex]`.
 *
 * @throws {ImageReferenceError} when any part is malformed, the host is missing, or neither a tag nor a
 *   digest is given
 */
export function parseImageReference(text: string): ImageReference {
  const bad = (detail: string) => new ImageReferenceError(text, detail);
  if (text.length > 512) throw bad("it is longer than 512 characters");
  let rest = text;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw bad(`the digest "${digest}" is not "sha256:" and 64 lowercase hex digits`);
    }
  }
  const slash = rest.indexOf("/");
  if (slash < 0) throw bad('it has no registry host (write "host[:port]/repository:tag")');
  const registry = rest.slice(0, slash);
  rest = rest.slice(slash + 1);
  if (
    !HOST.test(registry) || !(registry.includes(".") || registry.includes(":") || registry === "localhost")
  ) {
    throw bad(`"${registry}" is not a registry host (a name with a dot or a port, or localhost)`);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag "${tag}" is not 1 to 128 letters, digits, "_", "." or "-"`);
  }
  const repository = rest;
  if (
    repository === "" || repository.length > 255 || !repository.split("/").every((c) => COMPONENT.test(c))
  ) {
    throw bad(`the repository "${repository}" is not lowercase path components separated by "/"`);
  }
  if (tag === null && digest === null) {
    throw bad('it names neither a tag (":1.2.0") nor a digest ("@sha256:...")');
  }
  return { registry, repository, tag, digest };
}

/** Formats a reference back to text. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === null ? "" : `:${ref.tag}`}` +
    (ref.digest === null ? "" : `@${ref.digest}`);
}
