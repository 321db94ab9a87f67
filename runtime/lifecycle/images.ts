/**
 * Modules a manifest names by OCI image (`image: host[:port]/repo:tag[@sha256:<hex>]`), resolved at a start
 * before the desired state is: each is pulled (every pull of one start shares one time budget), its module
 * and signature bundle are stored as blobs (`blobs.ts`), and its `wasm` and `signature` are pointed at those
 * blobs, pinned to the module's digest. From there it is a file module: the loader checks the digest and
 * `signatures.ts` verifies the bundle exactly as for a `.wasm` beside its `.sig` (with `signatures: required`,
 * an unsigned image is refused at load).
 *
 * Each pull is recorded in `image_refs` (`snapshots/image_refs.ts`) once its digests are checked: the
 * signature is verified later, at load, which refuses a bad one. When the registry cannot be reached, times
 * out or answers 5xx, a digest-pinned reference starts from its blobs and a tag from its last recorded pull
 * (logged "starting <module> from cache (pulled at ...)"). A 401, 403 or 404, a digest mismatch or an
 * artifact that is not a module is never served from the cache: that module is refused, the others run.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { resolve } from "node:path";
import {
  type ImageReference,
  parseImageReference,
  pullModule,
  RegistryClient,
  type RegistryClientOptions,
  RegistryHttpError,
  RegistryUnavailableError,
} from "../../registry/mod.ts";
import { getImageRef, getImageRefByDigest, type ImageRef, putImageRef } from "../../snapshots/mod.ts";
import type { LoadedManifest, LoadedModuleSpec } from "../manifest/mod.ts";
import type { BlobStore } from "./blobs.ts";

/** The time all the pulls of one start may take together, ms. */
export const DEFAULT_PULL_BUDGET_MS = 60_000;

/** Options of {@linkcode resolveImages}. */
export interface ResolveImagesOptions {
  /** The manifest file, loaded. */
  manifest: LoadedManifest;
  db: DatabaseSync;
  blobs: BlobStore;
  log: (line: string) => void;
  /** The time all pulls share, ms. @default DEFAULT_PULL_BUDGET_MS */
  budgetMs?: number;
}

/** Where one image module's binary came from at this start. */
export interface ImageSource {
  module: string;
  /** The reference as the manifest writes it. */
  ref: string;
  /** The image manifest's digest. */
  manifestDigest: string;
  /** The module's SHA-256 (its blob). */
  sha256: string;
  /** The signature bundle's SHA-256 (its blob), or null for an unsigned image. */
  signatureSha256: string | null;
  /** Whether the registry was down and the last pull was used. */
  fromCache: boolean;
  /** When it was pulled, ISO 8601 UTC. */
  pulledAt: string;
}

/** What {@linkcode resolveImages} returns. */
export interface ResolvedImages {
  /** The manifest with its image modules pointed at their blobs, the refused ones left out. */
  manifest: LoadedManifest;
  /** Image modules that cannot run at this start, with the reason (the registry's error named). */
  refused: Map<string, string>;
  /** Image modules that can, and where their binary came from. */
  sources: Map<string, ImageSource>;
}

/**
 * Pulls (or takes from the cache) every image module of `manifest`; see the module's documentation for when
 * the cache serves and when a module is refused.
 *
 * Never throws for one module: whatever fails (the registry, its credential files, the blob store) refuses
 * that module, with the reason.
 */
export async function resolveImages(options: ResolveImagesOptions): Promise<ResolvedImages> {
  const { manifest, db, blobs, log } = options;
  const refused = new Map<string, string>();
  const sources = new Map<string, ImageSource>();
  const images = Object.entries(manifest.modules).filter(([, m]) => m.image !== undefined);
  if (images.length === 0) return { manifest, refused, sources };
  const deadline = Date.now() + (options.budgetMs ?? DEFAULT_PULL_BUDGET_MS);
  const clients = new Map<string, RegistryClient>();
  try {
    await Promise.all(images.map(async ([name, spec]) => {
      const text = spec.image!;
      try {
        const ref = parseImageReference(text);
        let client = clients.get(ref.registry);
        if (client === undefined) {
          client = new RegistryClient(ref.registry, await clientOptions(manifest, ref.registry, deadline));
          clients.set(ref.registry, client);
        }
        const source = await pullOrCache({ name, text, ref, client, deadline, db, blobs, log });
        sources.set(name, source);
      } catch (err) {
        // One module's registry, credentials or cache never stop the others: it is refused, named.
        if (!(err instanceof Error)) throw err;
        const why = `image "${text}": ${(err as Error).message}`;
        log(`image: module ${name}: refused: ${why}`);
        refused.set(name, why);
      }
    }));
  } finally {
    for (const c of clients.values()) c.close();
  }
  const modules = Object.create(null) as Record<string, LoadedModuleSpec>;
  for (const [name, spec] of Object.entries(manifest.modules)) {
    if (refused.has(name)) continue;
    const source = sources.get(name);
    if (source === undefined) {
      modules[name] = spec;
      continue;
    }
    const sig = source.signatureSha256;
    modules[name] = {
      ...spec,
      wasm: { path: source.ref, resolved: blobs.path(source.sha256), sha256: source.sha256 },
      sha256: source.sha256,
      ...(sig !== null && { signature: blobs.path(sig) }),
    };
  }
  return { manifest: { ...manifest, modules }, refused, sources };
}

/** The client settings of `registry` from the manifest's `registries` section (none: anonymous HTTPS). */
async function clientOptions(
  manifest: LoadedManifest,
  registry: string,
  deadline: number,
): Promise<RegistryClientOptions> {
  const spec = Object.hasOwn(manifest.registries, registry) ? manifest.registries[registry] : undefined;
  const timeoutMs = Math.max(1, Math.min(30_000, deadline - Date.now()));
  if (spec === undefined) return { timeoutMs };
  const password = spec.password_file === undefined
    ? null
    : (await Deno.readTextFile(resolve(manifest.dir, spec.password_file))).trim();
  const ca = spec.ca_file === undefined ? null : await Deno.readTextFile(resolve(manifest.dir, spec.ca_file));
  return {
    timeoutMs,
    plainHttp: spec.plain_http,
    ...(spec.username !== undefined && password !== null &&
      { credentials: { username: spec.username, password } }),
    ...(ca !== null && { caCerts: [ca] }),
  };
}

/** Whether a pull failure means "the registry is not there now" (served from the cache) rather than "no". */
function unreachable(err: unknown): boolean {
  return err instanceof RegistryUnavailableError ||
    (err instanceof RegistryHttpError && err.status >= 500);
}

/** Rejects with a timeout when the shared budget runs out first. */
function beforeDeadline<T>(work: Promise<T>, deadline: number, target: ImageReference): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new RegistryUnavailableError(
          { registry: target.registry, repository: target.repository, reference: target.tag },
          "pull",
          "the start's time budget for pulls ran out",
          { timedOut: true },
        ),
      );
    }, Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function pullOrCache(ctx: {
  name: string;
  text: string;
  ref: ImageReference;
  client: RegistryClient;
  deadline: number;
  db: DatabaseSync;
  blobs: BlobStore;
  log: (line: string) => void;
}): Promise<ImageSource> {
  const { name, text, ref, db, blobs, log } = ctx;
  try {
    const pulled = await beforeDeadline(pullModule(ctx.client, ref), ctx.deadline, ref);
    // pullModule checked the layer against its digest: the blob's name is that digest.
    const sha256 = await blobs.put(pulled.wasm);
    const bundle = pulled.signatures[0] ?? null;
    const signatureSha256 = bundle === null ? null : await blobs.put(bundle);
    const row: ImageRef = {
      ref: text,
      manifestDigest: pulled.digest,
      wasmSha256: sha256,
      signatureSha256,
      pulledAt: new Date().toISOString(),
    };
    putImageRef(db, row);
    log(
      `image: module ${name}: pulled "${text}" (${pulled.digest}, module sha256 ${sha256}, ` +
        `${bundle === null ? "unsigned" : "signed"})`,
    );
    return {
      module: name,
      ref: text,
      manifestDigest: pulled.digest,
      sha256,
      signatureSha256,
      fromCache: false,
      pulledAt: row.pulledAt,
    };
  } catch (err) {
    if (!unreachable(err)) throw err;
    // A digest names one content for good: any pull that resolved to it will do. A tag: its own last pull.
    const cached = ref.digest !== null ? getImageRefByDigest(db, ref.digest) : getImageRef(db, text);
    if (cached === null) {
      throw new RegistryUnavailableError(
        { registry: ref.registry, repository: ref.repository, reference: ref.digest ?? ref.tag },
        "pull",
        `${(err as Error).message}; nothing is cached for it`,
        { cause: err },
      );
    }
    await blobs.verify(cached.wasmSha256);
    if (cached.signatureSha256 !== null) await blobs.verify(cached.signatureSha256);
    log(
      `image: starting ${name} from cache (pulled at ${cached.pulledAt}, ${cached.manifestDigest}): ` +
        (err as Error).message,
    );
    return {
      module: name,
      ref: text,
      manifestDigest: cached.manifestDigest,
      sha256: cached.wasmSha256,
      signatureSha256: cached.signatureSha256,
      fromCache: true,
      pulledAt: cached.pulledAt,
    };
  }
}
