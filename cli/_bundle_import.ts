/**
 * `kiln bundle import <DIR|FILE.tar> --data DIR`: puts a bundle's modules into a gateway's image cache, all
 * or nothing. Every blob is checked against its digest (`registry/layout.ts`), every module's signature is
 * verified with the gateway's verifier (`runtime/signatures.ts`, the check `kiln run` makes at load) against
 * the gateway's own trust roots, never anything the bundle brings. Only when all of them pass are the
 * modules and their signature bundles stored as blobs (`runtime/lifecycle/blobs.ts`) and their references
 * recorded in `image_refs` in one transaction: `runtime/lifecycle/images.ts` starts them from there when
 * their registry cannot be reached (an unreachable, or unresolvable, host: `bundle.kiln.invalid`).
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import {
  type Bundle,
  type BundledModule,
  BundleModuleRefusedError,
  parseImageReference,
  readLayout,
  readLayoutDir,
  readLayoutTar,
} from "../registry/mod.ts";
import {
  BlobStore,
  createModuleVerifier,
  type ModulePlan,
  planDeployment,
  type SignaturesPlan,
} from "../runtime/mod.ts";
import { loadManifest, parseManifest } from "../runtime/manifest/mod.ts";
import { openStore, putImageRef } from "../snapshots/mod.ts";
import { readBundle, SignatureError, validateStatement } from "../signing/mod.ts";
import { ApiRequestError, tokenFor } from "./_api_client.ts";
import { parse, UsageError } from "./_usage.ts";

/** Runs `kiln bundle import`; `version` is this Kiln's (a catalog's `min_runtime_version` is checked). */
export async function importCommand(args: string[], version: string): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      data: { type: "string" },
      config: { type: "string" },
      trust: { type: "string", multiple: true },
      crl: { type: "string", multiple: true },
      "require-crls": { type: "boolean" },
      hardware: { type: "string" },
      "allow-unsigned": { type: "boolean" },
      "manifest-out": { type: "string" },
      url: { type: "string" },
      token: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("bundle import takes one bundle: a directory or a .tar");
  if ((values.data === undefined) === (values.url === undefined)) {
    throw new UsageError(
      "bundle import needs --data DIR (a gateway's data directory) or --url URL (a running gateway), one of them",
    );
  }
  if ((values.config === undefined) === (values.trust === undefined) && !values["allow-unsigned"]) {
    throw new UsageError(
      "bundle import checks signatures against the gateway's trust roots: give --config GATEWAY.yaml " +
        "(its signatures: section) or --trust ROOT.pem, not both (--allow-unsigned: unsigned modules too)",
    );
  }
  if (values.config !== undefined && (values.trust || values.crl || values.hardware)) {
    throw new UsageError("--config takes the trust roots, CRLs and hardware from the gateway's manifest");
  }
  let policy: Omit<SignaturesPlan, "allowDowngrade">;
  let hardware: string | null;
  if (values.config !== undefined) {
    const plan = planDeployment(await loadManifest(values.config));
    policy = plan.signatures ?? { mode: "optional", trustedRoots: [], crls: [], requireCrls: false };
    hardware = plan.device.hardware ?? null;
    if (values["allow-unsigned"]) policy = { ...policy, mode: "optional" };
  } else {
    policy = {
      mode: values["allow-unsigned"] ? "optional" : "required",
      trustedRoots: (values.trust ?? []).map((p) => resolve(p)),
      crls: (values.crl ?? []).map((p) => resolve(p)),
      requireCrls: values["require-crls"] ?? false,
    };
    hardware = values.hardware ?? null;
  }
  const path = positionals[0]!;
  const bundle = await readBundleAt(path);
  const checked = await checkModules(bundle, path, { policy, hardware, runtimeVersion: version });
  if (values.url !== undefined) {
    const deployed = await deployOverApi(bundle, path, values.url, await tokenFor(values.token, "./data"));
    console.log(
      `Deployed ${deployed.length} module(s) from ${path} to ${values.url}: ${deployed.join(", ")}`,
    );
    return 0;
  }
  const data = values.data!;
  await Deno.mkdir(data, { recursive: true });
  // Blobs first (content-addressed: an interrupted import leaves only blobs no reference names, which the
  // collector removes), then every reference in one transaction.
  const blobs = new BlobStore(data);
  const rows = [];
  const pulledAt = new Date().toISOString();
  for (const c of checked) {
    const wasmSha256 = await blobs.put(c.module.wasm);
    const sig = c.module.signatures[0] ?? null;
    const signatureSha256 = sig === null ? null : await blobs.put(sig);
    rows.push({
      ref: c.module.reference,
      manifestDigest: c.module.manifestDigest,
      wasmSha256,
      signatureSha256,
      pulledAt,
    });
  }
  {
    using store = openStore(`${data}/kiln.db`);
    store.db.exec("BEGIN IMMEDIATE");
    try {
      for (const r of rows) putImageRef(store.db, r);
      store.db.exec("COMMIT");
    } catch (err) {
      store.db.exec("ROLLBACK");
      throw err;
    }
  }
  const out = values["manifest-out"];
  if (out !== undefined) {
    if (bundle.deployment === null) {
      throw new UsageError(`--manifest-out: the bundle "${path}" holds no manifest`);
    }
    await Deno.mkdir(dirname(resolve(out)), { recursive: true });
    const tmp = `${out}.tmp-${crypto.randomUUID()}`;
    await Deno.writeTextFile(tmp, bundle.deployment);
    await Deno.rename(tmp, out);
  }
  console.log(`Imported ${checked.length} module(s) from ${path} into ${data}`);
  for (const c of checked) {
    console.log(
      `${c.module.reference}: ${c.module.manifestDigest} (${
        c.signer ?? "unsigned, accepted: --allow-unsigned"
      })`,
    );
  }
  if (out !== undefined) console.log(`manifest: ${out}`);
  for (const note of missingImages(bundle)) console.log(note);
  return 0;
}

/** Reads and checks a bundle directory or tar file. */
async function readBundleAt(path: string): Promise<Bundle> {
  const info = await Deno.stat(path);
  return await readLayout(info.isDirectory ? await readLayoutDir(path) : await readLayoutTar(path), path);
}

/** A module whose signature passed, and who signed it (null when unsigned and accepted). */
interface CheckedModule {
  module: BundledModule;
  signer: string | null;
}

/**
 * Verifies every module as the gateway will at load, before anything is written: the first refusal throws.
 *
 * @throws {BundleModuleRefusedError} naming the module and its reference
 */
async function checkModules(
  bundle: Bundle,
  path: string,
  gateway: {
    policy: Omit<SignaturesPlan, "allowDowngrade">;
    hardware: string | null;
    runtimeVersion: string;
  },
): Promise<CheckedModule[]> {
  const verifier = await createModuleVerifier({
    policy: { ...gateway.policy, allowDowngrade: true }, // a downgrade is judged at deploy, not here
    hardware: gateway.hardware,
    runtimeVersion: gateway.runtimeVersion,
    audit: null,
    log: (line) => console.error(line),
  });
  const specs = bundle.deployment === null ? null : parseManifest(bundle.deployment);
  const out: CheckedModule[] = [];
  for (const module of bundle.modules) {
    // Under the names the bundled manifest gives it (each with its capabilities and memory), else the name
    // its signature gives and no requirement (the gateway checks its manifest's name and limits at load).
    const named = Object.entries(specs?.modules ?? {}).filter(([, s]) => s.image === module.reference);
    const targets = named.length > 0
      ? named.map(([name, s]) => ({
        name,
        capabilities: [...s.capabilities],
        maxMemoryMb: s.limits.max_memory_mb,
      }))
      : [{ name: signedName(module), capabilities: [], maxMemoryMb: 0 }];
    let signer: string | null = null;
    for (const t of targets) {
      const bundleBytes = module.signatures[0] ?? null;
      try {
        if (bundleBytes === null) {
          if (verifier.required) {
            throw new SignatureError("unsigned", t.name, "the bundle holds no signature for it");
          }
          continue;
        }
        // What `verify` reads of a plan: its name, capabilities and memory; `wasm` only names it in the audit.
        const plan = { ...t, wasm: module.reference, signature: null } as unknown as ModulePlan;
        const v = await verifier.verify(plan, module.wasm, { bundle: bundleBytes });
        if (v !== null) signer = `signed ${v.version} by "${v.signer.subject}" ${v.signer.fingerprint}`;
      } catch (err) {
        if (!(err instanceof SignatureError)) throw err;
        throw new BundleModuleRefusedError(path, module.reference, t.name, err.reason, { cause: err });
      }
    }
    out.push({ module, signer });
  }
  return out;
}

/** The module name the signature's statement gives (its only subject), else the repository's last part. */
function signedName(module: BundledModule): string {
  const fallback = parseImageReference(module.reference).repository.replace(/^.*\//, "");
  const bytes = module.signatures[0];
  if (bytes === undefined) return fallback;
  try {
    const statement = validateStatement(
      JSON.parse(new TextDecoder().decode(readBundle(bytes, fallback).payload)),
    );
    return statement.ok && statement.value.subject.length === 1 ? statement.value.subject[0]!.name : fallback;
  } catch {
    return fallback; // a malformed bundle: the verifier names what is wrong with it
  }
}

/** A line for each image the bundled manifest names that the bundle does not hold (pulled at start). */
function missingImages(bundle: Bundle): string[] {
  if (bundle.deployment === null) return [];
  const held = new Set(bundle.modules.map((m) => m.reference));
  return Object.entries(parseManifest(bundle.deployment).modules)
    .filter(([, s]) => s.image !== undefined && !held.has(s.image))
    .map(([name, s]) => `note: module ${name}'s image "${s.image}" is not in the bundle: pulled at start`);
}

/**
 * Deploys every module the bundled manifest names and the bundle holds to a running gateway through its
 * deploy endpoint (`POST /api/v1/modules`: the entry, the module, its signature), which verifies each
 * again against its own trust roots. Returns the modules' names.
 *
 * @throws {UsageError} when the bundle holds no manifest (a deploy needs each module's entry)
 * @throws {ApiRequestError} when the gateway cannot be reached or refuses a deploy (the earlier ones stay)
 */
async function deployOverApi(
  bundle: Bundle,
  path: string,
  url: string,
  token: string | null,
): Promise<string[]> {
  if (bundle.deployment === null) {
    throw new UsageError(
      `--url deploys the bundled manifest's modules: the bundle "${path}" holds no manifest`,
    );
  }
  const held = new Map(bundle.modules.map((m) => [m.reference, m]));
  const raw = parseYaml(bundle.deployment) as { modules: Record<string, Record<string, unknown>> };
  const names: string[] = [];
  for (const [name, spec] of Object.entries(parseManifest(bundle.deployment).modules)) {
    const module = spec.image === undefined ? undefined : held.get(spec.image);
    if (module === undefined) continue;
    // The entry as written, less what names the binary: the upload is the binary.
    const { image: _image, wasm: _wasm, signature: _signature, ...entry } = raw.modules[name]!;
    const form = new FormData();
    form.set("name", name);
    form.set("spec", stringifyYaml(entry));
    form.set("wasm", new File([module.wasm as Uint8Array<ArrayBuffer>], module.fileName ?? `${name}.wasm`));
    const sig = module.signatures[0];
    if (sig !== undefined) {
      form.set("signature", new File([sig as Uint8Array<ArrayBuffer>], `${name}.wasm.sig`));
    }
    const what = `deploy module "${name}" (image "${module.reference}")`;
    let res: Response;
    try {
      res = await fetch(new URL("/api/v1/modules", url), {
        method: "POST",
        body: form,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    } catch (err) {
      throw new ApiRequestError(
        `Cannot ${what}: ${url} cannot be reached: ${(err as Error).message}`,
        null,
        null,
      );
    }
    const body = await res.json().catch(() => null) as
      | { error?: { code?: unknown; message?: unknown } }
      | null;
    if (!res.ok) {
      const code = typeof body?.error?.code === "string" ? body.error.code : null;
      const why = typeof body?.error?.message === "string"
        ? `${body.error.message} (${code})`
        : `HTTP ${res.status}`;
      throw new ApiRequestError(`Cannot ${what}: ${why}`, res.status, code);
    }
    names.push(name);
  }
  return names;
}
