/**
 * Pulls a fleet module's image from a registry the manifest lists (`registries:`), with its credentials and
 * CA; refuses a registry it does not list and an image without an attached signature. The signature itself
 * is verified by the deploy (`../signatures.ts`), against the gateway's own trust roots.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseImageReference, type PulledModule, pullModule, RegistryClient } from "../../registry/mod.ts";
import type { LoadedManifest } from "../manifest/mod.ts";
import { FleetRegistryUntrustedError, FleetUnsignedImageError } from "./errors.ts";

/** How long one pull may take, ms. */
export const PULL_TIMEOUT_MS = 60_000;

/** A pulled, signed module. */
export interface FleetPull {
  readonly pulled: PulledModule;
  /** Its newest attached signature bundle. */
  readonly signature: Uint8Array;
}

/**
 * Pulls `image` for module `module`.
 *
 * @throws {FleetRegistryUntrustedError} when the manifest's `registries:` does not list its registry.
 * @throws {FleetUnsignedImageError} when no signature is attached to it.
 * @throws as {@linkcode pullModule} (`registry_unavailable`, `registry_not_found`, a digest mismatch...).
 */
export async function pullSigned(
  manifest: LoadedManifest,
  module: string,
  image: string,
  timeoutMs = PULL_TIMEOUT_MS,
): Promise<FleetPull> {
  const ref = parseImageReference(image);
  if (!Object.hasOwn(manifest.registries, ref.registry)) {
    throw new FleetRegistryUntrustedError(module, ref.registry);
  }
  const spec = manifest.registries[ref.registry]!;
  const password = spec.password_file === undefined
    ? null
    : (await Deno.readTextFile(resolve(manifest.dir, spec.password_file))).trim();
  const ca = spec.ca_file === undefined ? null : await Deno.readTextFile(resolve(manifest.dir, spec.ca_file));
  using client = new RegistryClient(ref.registry, {
    timeoutMs,
    plainHttp: spec.plain_http,
    ...(spec.username !== undefined && password !== null &&
      { credentials: { username: spec.username, password } }),
    ...(ca !== null && { caCerts: [ca] }),
  });
  const pulled = await pullModule(client, ref);
  const signature = pulled.signatures[0];
  if (signature === undefined) throw new FleetUnsignedImageError(module, image);
  return { pulled, signature };
}
