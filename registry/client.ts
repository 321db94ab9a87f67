/**
 * A small OCI Distribution client (distribution-spec v1.1, `spec.md`): blobs (HEAD, GET, monolithic or
 * chunked upload), manifests (PUT, GET by tag or digest), tag listing and the referrers API with the
 * referrers tag schema as fallback. Authentication: anonymous, HTTP Basic, and the Bearer token flow. Every
 * request has a timeout, every read a size limit, and every pulled blob or manifest is checked against its
 * SHA-256 digest before it is returned.
 *
 * @module
 */
import { basicAuthorization, parseChallenge } from "./_auth.ts";
import { httpError, parseJsonObject, readBody } from "./_body.ts";
import {
  type Descriptor,
  isDescriptor,
  MAX_MANIFEST_BYTES,
  OCI_INDEX,
  OCI_MANIFEST,
  referrersTag,
  sha256Digest,
} from "./descriptor.ts";
import {
  RegistryDigestError,
  RegistryHttpError,
  RegistryProtocolError,
  type RegistryTarget,
  RegistryUnavailableError,
} from "./errors.ts";

/** The largest blob the client reads by default, bytes: Kiln's module size limit. */
export const MAX_BLOB_BYTES = 32 * 1024 * 1024;
/** The default timeout of one request, including reading its body, ms. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Blobs larger than this are uploaded in chunks of this size (PATCH), bytes. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** The largest error body, token answer or tag list page read, bytes. */
const MAX_SMALL_BODY_BYTES = 1024 * 1024;

/** Registry credentials for HTTP Basic, or for the token server of the Bearer flow. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Options of {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Speak HTTP instead of HTTPS (a lab registry). @default false */
  readonly plainHttp?: boolean;
  /** Credentials; without them the client is anonymous. @default null */
  readonly credentials?: RegistryCredentials | null;
  /** Extra trusted CA certificates (PEM) for the registry's and the token server's TLS. @default [] */
  readonly caCerts?: readonly string[];
  /** Timeout of each request including its body, ms. @default DEFAULT_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** Largest blob read, bytes. @default MAX_BLOB_BYTES */
  readonly maxBlobBytes?: number;
  /** Chunk size above which uploads are chunked, bytes. @default DEFAULT_CHUNK_BYTES */
  readonly chunkBytes?: number;
  /** Largest manifest or index read, bytes. @default MAX_MANIFEST_BYTES */
  readonly maxManifestBytes?: number;
}

/** A fetched manifest: its exact bytes (digests are over them), media type and digest. */
export interface FetchedManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
  readonly digest: string;
}

/** Where referrers were found: the registry's referrers API, or the `sha256-<hex>` fallback tag. */
export type ReferrersSource = "api" | "tag";

interface RequestOptions {
  readonly repository: string;
  readonly reference: string | null;
  readonly operation: string;
  readonly push?: boolean;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Statuses that are an answer rather than an error. */
  readonly ok: readonly number[];
}

/**
 * A client of one registry (`host[:port]`). Holds a custom TLS client when CA certificates are given:
 * dispose of it (or call `close()`).
 *
 * @example
 * ```ts ignore
 * using client = new RegistryClient("registry.plant.local:5000", { credentials: { username, password } });
 * const { digest } = await client.pushBlob("analytics/fft", wasm);
 * ```
 */
export class RegistryClient implements Disposable {
  readonly registry: string;
  readonly #base: string;
  readonly #credentials: RegistryCredentials | null;
  readonly #httpClient: Deno.HttpClient | null;
  readonly #timeoutMs: number;
  readonly #maxBlobBytes: number;
  readonly #chunkBytes: number;
  readonly #maxManifestBytes: number;
  /** Authorization header value per scope (`repository:NAME:pull` or `...:pull,push`), or "basic". */
  readonly #auth = new Map<string, string>();

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.#base = `${options.plainHttp ? "http" : "https"}://${registry}`;
    this.#credentials = options.credentials ?? null;
    this.#httpClient = options.caCerts?.length
      ? Deno.createHttpClient({ caCerts: [...options.caCerts] })
      : null;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBlobBytes = options.maxBlobBytes ?? MAX_BLOB_BYTES;
    this.#chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#maxManifestBytes = Math.min(options.maxManifestBytes ?? MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES);
  }

  /** Releases the TLS client. */
  close(): void {
    this.#httpClient?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * True when the repository holds the blob `digest`.
   * @throws {RegistryHttpError} on an answer other than 200 or 404
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.#request("HEAD", `/v2/${repository}/blobs/${digest}`, {
      repository,
      reference: digest,
      operation: "check blob",
      ok: [200, 404],
    });
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Uploads `bytes` as a blob unless the repository already has it; returns its digest and size.
   * Monolithic (POST then PUT) up to the chunk size, chunked (POST, PATCH..., PUT) above.
   * @throws {RegistryHttpError} when the registry refuses the upload
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async pushBlob(repository: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = await sha256Digest(bytes);
    const size = bytes.length;
    if (await this.hasBlob(repository, digest)) return { digest, size };
    const base = { repository, reference: digest, operation: "upload blob", push: true } as const;
    let res = await this.#request("POST", `/v2/${repository}/blobs/uploads/`, { ...base, ok: [202] });
    await res.body?.cancel();
    let location = this.#location(res, base);
    if (size > this.#chunkBytes) {
      for (let start = 0; start < size; start += this.#chunkBytes) {
        const chunk = bytes.subarray(start, Math.min(size, start + this.#chunkBytes));
        res = await this.#request("PATCH", location, {
          ...base,
          ok: [202],
          body: chunk,
          headers: {
            "content-type": "application/octet-stream",
            "content-range": `${start}-${start + chunk.length - 1}`,
          },
        });
        await res.body?.cancel();
        location = this.#location(res, base);
      }
    }
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const last = size > this.#chunkBytes ? undefined : bytes;
    res = await this.#request("PUT", url.href, {
      ...base,
      ok: [201],
      ...(last && { body: last }),
      headers: { "content-type": "application/octet-stream" },
    });
    await res.body?.cancel();
    return { digest, size };
  }

  /**
   * Downloads blob `digest` and checks its SHA-256.
   * @throws {RegistryTooLargeError} when it is larger than `maxBytes`
   * @throws {RegistryDigestError} when its content does not match `digest`
   * @throws {RegistryHttpError} when it is missing (`registry_not_found`) or refused
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async getBlob(repository: string, digest: string, maxBytes = this.#maxBlobBytes): Promise<Uint8Array> {
    const target = { registry: this.registry, repository, reference: digest };
    const res = await this.#request("GET", `/v2/${repository}/blobs/${digest}`, {
      repository,
      reference: digest,
      operation: "pull blob",
      ok: [200],
    });
    const bytes = await this.#read(res, target, `blob ${digest}`, maxBytes);
    const actual = await sha256Digest(bytes);
    if (actual !== digest) throw new RegistryDigestError(target, digest, actual, "a blob");
    return bytes;
  }

  /**
   * Uploads a manifest under `reference` (a tag or its digest). Returns its digest and whether the registry
   * processed its `subject` (the `OCI-Subject` header of distribution-spec 1.1).
   * @throws {RegistryHttpError} when the registry refuses it
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async putManifest(
    repository: string,
    reference: string,
    manifest: { bytes: Uint8Array; mediaType: string },
  ): Promise<{ digest: string; subjectProcessed: boolean }> {
    const digest = await sha256Digest(manifest.bytes);
    const res = await this.#request("PUT", `/v2/${repository}/manifests/${reference}`, {
      repository,
      reference,
      operation: "push manifest",
      push: true,
      ok: [201],
      body: manifest.bytes,
      headers: { "content-type": manifest.mediaType },
    });
    await res.body?.cancel();
    return { digest, subjectProcessed: res.headers.has("oci-subject") };
  }

  /**
   * Fetches a manifest or index by tag or digest and checks its digest: against `reference` when it is a
   * digest, and against the registry's `Docker-Content-Digest` header when it sends one.
   * @throws {RegistryTooLargeError} when it is over the manifest limit ({@linkcode MAX_MANIFEST_BYTES})
   * @throws {RegistryDigestError} when its content does not match
   * @throws {RegistryHttpError} when it is missing (`registry_not_found`) or refused
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async getManifest(
    repository: string,
    reference: string,
    accept: readonly string[] = [OCI_MANIFEST, OCI_INDEX],
  ): Promise<FetchedManifest> {
    const target = { registry: this.registry, repository, reference };
    const res = await this.#request("GET", `/v2/${repository}/manifests/${reference}`, {
      repository,
      reference,
      operation: "pull manifest",
      ok: [200],
      headers: { accept: accept.join(", ") },
    });
    const bytes = await this.#read(res, target, "a manifest", this.#maxManifestBytes);
    const digest = await sha256Digest(bytes);
    // Only a sha256 announcement can be checked here (the digest this client computes).
    const announced = res.headers.get("docker-content-digest");
    const expected = reference.startsWith("sha256:")
      ? reference
      : announced?.startsWith("sha256:")
      ? announced
      : null;
    if (expected !== null && expected !== digest) {
      throw new RegistryDigestError(target, expected, digest, "a manifest");
    }
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { bytes, mediaType, digest };
  }

  /**
   * Lists the repository's tags (following `Link` pages, at most 100 of them).
   * @throws {RegistryHttpError} when the repository is unknown or access is refused
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async listTags(repository: string): Promise<string[]> {
    const target = { registry: this.registry, repository, reference: null };
    const tags: string[] = [];
    let path: string | null = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path !== null && page < 100; page++) {
      const res: Response = await this.#request("GET", path, {
        repository,
        reference: null,
        operation: "list tags of",
        ok: [200],
      });
      const json = parseJsonObject(await this.#read(res, target, "a tag list", MAX_SMALL_BODY_BYTES), target);
      const list = (json as { tags?: unknown }).tags;
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list) || !list.every((t) => typeof t === "string")) {
          throw new RegistryProtocolError(target, "the tag list is not an array of strings");
        }
        tags.push(...list);
      }
      const link = res.headers.get("link");
      path = link ? /<([^>]+)>/.exec(link)?.[1] ?? null : null;
    }
    return tags;
  }

  /**
   * The manifests that refer to `digest` (their `subject`), optionally of one `artifactType`: from the
   * referrers API (`GET /v2/<name>/referrers/<digest>`), or, when the registry has none (it answers 404),
   * from the referrers tag schema's index at tag `sha256-<hex>`.
   * @throws {RegistryHttpError} when access is refused
   * @throws {RegistryUnavailableError} when the registry cannot be reached in time
   */
  async listReferrers(
    repository: string,
    digest: string,
    artifactType: string | null = null,
  ): Promise<{ descriptors: Descriptor[]; source: ReferrersSource }> {
    const target = { registry: this.registry, repository, reference: digest };
    const res = await this.#request("GET", `/v2/${repository}/referrers/${digest}`, {
      repository,
      reference: digest,
      operation: "list referrers of",
      ok: [200, 404],
      headers: { accept: OCI_INDEX },
    });
    let source: ReferrersSource = "api";
    let index: unknown;
    const type = res.headers.get("content-type") ?? "";
    if (res.status === 200 && type.startsWith(OCI_INDEX)) {
      index = parseJsonObject(
        await this.#read(res, target, "a referrers index", this.#maxManifestBytes),
        target,
      );
    } else {
      await res.body?.cancel();
      source = "tag";
      try {
        const fallback = await this.getManifest(repository, referrersTag(digest), [OCI_INDEX]);
        index = parseJsonObject(fallback.bytes, target);
      } catch (err) {
        if (err instanceof RegistryHttpError && err.status === 404) return { descriptors: [], source };
        throw err;
      }
    }
    const manifests = (index as { manifests?: unknown }).manifests;
    if (!Array.isArray(manifests)) {
      throw new RegistryProtocolError(target, "the referrers index has no manifests");
    }
    const descriptors = manifests.filter(isDescriptor);
    return {
      descriptors: artifactType === null
        ? descriptors
        : descriptors.filter((d) => d.artifactType === artifactType),
      source,
    };
  }

  /** The upload URL of a 202 answer, absolute. */
  #location(res: Response, base: { repository: string; reference: string }): string {
    const location = res.headers.get("location");
    if (!location) {
      throw new RegistryProtocolError(
        { registry: this.registry, ...base },
        "an upload answer has no Location header",
      );
    }
    return new URL(location, this.#base).href;
  }

  /** Reads a body within `maxBytes` (`_body.ts`). */
  #read(res: Response, target: RegistryTarget, what: string, maxBytes: number): Promise<Uint8Array> {
    return readBody(res, target, what, maxBytes, (err, op) => this.#transportError(err, target, op));
  }

  /** The error of a refused request, with the registry's own error code when its body has one. */
  #fail(res: Response, target: RegistryTarget, operation: string): Promise<RegistryHttpError> {
    return httpError(res, target, operation, (err, op) => this.#transportError(err, target, op));
  }

  #transportError(err: unknown, target: RegistryTarget, operation: string): RegistryUnavailableError {
    const name = (err as Error)?.name;
    const timedOut = name === "TimeoutError" || name === "AbortError";
    return new RegistryUnavailableError(
      target,
      operation,
      timedOut ? `no answer within ${this.#timeoutMs} ms` : `${(err as Error)?.message ?? err}`,
      { cause: err, timedOut },
    );
  }

  /**
   * Sends one request with the authorization known for its scope; on a 401 with a challenge it
   * authenticates (Basic, or a Bearer token from the realm) and retries once.
   */
  async #request(method: string, pathOrUrl: string, o: RequestOptions): Promise<Response> {
    const target = { registry: this.registry, repository: o.repository, reference: o.reference };
    const scope = `repository:${o.repository}:${o.push ? "pull,push" : "pull"}`;
    const url = new URL(pathOrUrl, this.#base).href;
    for (let attempt = 0;; attempt++) {
      const headers = new Headers(o.headers);
      const auth = this.#auth.get(scope) ?? this.#auth.get("*");
      if (auth) headers.set("authorization", auth);
      let res: Response;
      const signal = AbortSignal.timeout(this.#timeoutMs);
      try {
        res = await fetch(url, {
          method,
          headers,
          signal,
          redirect: "follow",
          ...(o.body && { body: o.body as Uint8Array<ArrayBuffer> }),
          ...(this.#httpClient && { client: this.#httpClient }),
        });
      } catch (err) {
        throw this.#transportError(err, target, o.operation);
      }
      if (res.status === 401 && attempt === 0) {
        const challenge = parseChallenge(res.headers.get("www-authenticate"));
        await res.body?.cancel();
        if (challenge?.scheme === "basic" && this.#credentials) {
          this.#auth.set("*", basicAuthorization(this.#credentials.username, this.#credentials.password));
          continue;
        }
        if (challenge?.scheme === "bearer" && challenge.params.realm) {
          this.#auth.set(scope, `Bearer ${await this.#token(challenge.params, scope, target, o.operation)}`);
          continue;
        }
        throw new RegistryHttpError(
          target,
          o.operation,
          401,
          null,
          this.#credentials ? "" : "no credentials given",
        );
      }
      if (o.ok.includes(res.status)) return res;
      throw await this.#fail(res, target, o.operation);
    }
  }

  /** Asks a Bearer realm for a token for `scope` (distribution `docs/spec/auth/token.md`). */
  async #token(
    params: Readonly<Record<string, string>>,
    scope: string,
    target: RegistryTarget,
    operation: string,
  ): Promise<string> {
    const url = new URL(params.realm!);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", scope);
    const headers = new Headers();
    if (this.#credentials) {
      headers.set(
        "authorization",
        basicAuthorization(this.#credentials.username, this.#credentials.password),
      );
    }
    let res: Response;
    try {
      res = await fetch(url, {
        headers,
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(this.#httpClient && { client: this.#httpClient }),
      });
    } catch (err) {
      throw this.#transportError(err, target, `${operation} (token from "${url.origin}")`);
    }
    if (res.status !== 200) {
      throw await this.#fail(res, target, `${operation} (token from "${url.origin}")`);
    }
    const json = parseJsonObject(await this.#read(res, target, "a token", MAX_SMALL_BODY_BYTES), target) as {
      token?: unknown;
      access_token?: unknown;
    };
    const token = json.token ?? json.access_token;
    if (typeof token !== "string" || token === "") {
      throw new RegistryProtocolError(target, `the token server "${url.origin}" answered no token`);
    }
    return token;
  }
}
