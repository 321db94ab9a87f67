/**
 * `kiln bundle export` and `kiln bundle import`: modules for air-gapped plants, as an OCI image layout
 * (a directory, or one `.tar` file) that a USB stick or a data diode can carry (`docs/bundle.md`).
 *
 * Export takes modules from a registry by reference, and/or every module a deployment manifest names (its
 * `image:` modules from their registries, its `wasm:` modules from their files and `.sig` bundles), and
 * writes them as the registry holds them (`registry/layout.ts`), with the manifest. Import (`_bundle_import.ts`)
 * checks every digest and every signature against the gateway's own trust roots, then puts the modules into
 * the gateway's content-addressed store under their references, so a manifest naming them starts with no
 * registry reachable.
 *
 * @module
 */
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import {
  buildDeploymentArtifact,
  buildModuleArtifact,
  copyModuleArtifact,
  formatImageReference,
  LayoutBuilder,
  type ModuleArtifact,
  parseImageReference,
  RegistryClient,
  type RegistryClientOptions,
  writeLayoutDir,
  writeLayoutTar,
} from "../registry/mod.ts";
import { type LoadedManifest, loadManifest } from "../runtime/manifest/mod.ts";
import { ModuleNotFoundError } from "../runtime/errors.ts";
import { importCommand } from "./_bundle_import.ts";
import { parse, UsageError } from "./_usage.ts";
import { REGISTRY_FLAGS, registryOptions, signedCatalog } from "./push.ts";

/** The host of the references given to a manifest's `wasm:` modules: `.invalid` never resolves (RFC 2606). */
export const DEFAULT_IMAGE_PREFIX = "bundle.kiln.invalid/modules";

/** The help lines of `kiln bundle`, for `kiln --help`. */
export const BUNDLE_HELP =
  `  kiln bundle export --out DIR|FILE.tar [--manifest kiln.yaml] [--image-prefix HOST/PATH] [REF...]
            [--username U --password-file F] [--ca-file PEM] [--plain-http] [--timeout-ms N]
      Write modules and their signatures as an OCI image layout (a directory, or one .tar) for an
      air-gapped plant: each REF pulled from its registry, and every module of --manifest (its image:
      modules pulled, its wasm: modules from their files, renamed image: HOST/PATH/NAME:VERSION@DIGEST in
      the bundled copy of the manifest).
  kiln bundle import <DIR|FILE.tar> --data DIR (--config GATEWAY.yaml | --trust ROOT.pem...) [--crl F]...
            [--require-crls] [--hardware TAG] [--allow-unsigned] [--manifest-out FILE]
      Check every blob's digest and every module's signature against the gateway's trust roots (from
      --config's signatures: section, or --trust), then store the modules in DIR's image cache under their
      references, all or nothing; --manifest-out writes the bundled manifest, ready for kiln run.`;

/** Runs `kiln bundle export|import`; 0 on success. */
export async function bundleCommand(args: string[], version: string): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "export") return await exportCommand(rest);
  if (sub === "import") return await importCommand(rest, version);
  throw new UsageError(
    `bundle takes "export" or "import", not ${sub === undefined ? "nothing" : `"${sub}"`}`,
  );
}

/** Runs `kiln bundle export`. */
async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      out: { type: "string" },
      manifest: { type: "string" },
      "image-prefix": { type: "string" },
      ...REGISTRY_FLAGS,
    },
    allowPositionals: true,
  });
  const out = values.out;
  if (out === undefined) throw new UsageError("bundle export needs --out DIR or --out FILE.tar");
  if (positionals.length === 0 && values.manifest === undefined) {
    throw new UsageError("bundle export takes image references, --manifest kiln.yaml, or both");
  }
  const prefix = values["image-prefix"] ?? DEFAULT_IMAGE_PREFIX;
  // The prefix must make a valid reference once a name and tag are added.
  parseImageReference(`${prefix}/probe:1`);
  const flags = await registryOptions(values);
  const builder = new LayoutBuilder();
  const clients = new Map<string, RegistryClient>();
  const client = (registry: string, manifest: LoadedManifest | null) => {
    let c = clients.get(registry);
    if (c === undefined) {
      c = new RegistryClient(registry, manifest ? manifestOptions(manifest, registry, flags) : flags);
      clients.set(registry, c);
    }
    return c;
  };
  const lines: string[] = [];
  try {
    for (const text of positionals) {
      const artifact = await copyModuleArtifact(
        client(parseImageReference(text).registry, null),
        parseImageReference(text),
      );
      await builder.addModule(text, artifact);
      lines.push(describe(text, artifact, "registry"));
    }
    if (values.manifest !== undefined) {
      const manifest = await loadManifest(values.manifest);
      const doc = parseDocument(await Deno.readTextFile(values.manifest));
      for (const [name, spec] of Object.entries(manifest.modules)) {
        if (spec.image !== undefined) {
          const ref = parseImageReference(spec.image);
          const artifact = await copyModuleArtifact(client(ref.registry, manifest), ref);
          await builder.addModule(spec.image, artifact);
          lines.push(describe(spec.image, artifact, `module ${name}, registry`));
          continue;
        }
        const { artifact, reference } = await localArtifact(
          name,
          spec.wasm.resolved,
          spec.signature,
          manifest,
          prefix,
        );
        await builder.addModule(reference, artifact);
        // The bundled manifest names the module by its image: wasm, its pin and signature path go.
        doc.deleteIn(["modules", name, "wasm"]);
        doc.deleteIn(["modules", name, "signature"]);
        doc.setIn(["modules", name, "image"], reference);
        lines.push(describe(reference, artifact, `module ${name}, ${spec.wasm.path}`));
        if (Object.keys(spec.data).length > 0) {
          lines.push(`  note: module ${name}'s data files are not bundled: copy them beside the manifest`);
        }
      }
      await builder.addDeployment(await buildDeploymentArtifact(doc.toString()));
      lines.push(`manifest: ${values.manifest} (as artifact "kiln-deployment")`);
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
  const files = builder.files();
  if (out.endsWith(".tar")) await writeLayoutTar(out, files);
  else await writeLayoutDir(out, files);
  console.log(`Exported ${out} (OCI image layout${out.endsWith(".tar") ? ", tar" : ""})`);
  for (const l of lines) console.log(l);
  return 0;
}

/** One line of the export's report. */
function describe(reference: string, a: ModuleArtifact, from: string): string {
  return `${reference}: ${a.digest} (${from}; ${a.signatures.length === 0 ? "unsigned" : "signed"})`;
}

/** A registry's client settings from the manifest's `registries:` section, else the command's flags. */
function manifestOptions(
  manifest: LoadedManifest,
  registry: string,
  flags: RegistryClientOptions,
): RegistryClientOptions {
  const spec = Object.hasOwn(manifest.registries, registry) ? manifest.registries[registry] : undefined;
  if (spec === undefined) return flags;
  const file = (p: string) => Deno.readTextFileSync(resolve(manifest.dir, p));
  return {
    ...(flags.timeoutMs !== undefined && { timeoutMs: flags.timeoutMs }),
    plainHttp: spec.plain_http,
    ...(spec.username !== undefined && spec.password_file !== undefined &&
      { credentials: { username: spec.username, password: file(spec.password_file).trim() } }),
    ...(spec.ca_file !== undefined && { caCerts: [file(spec.ca_file)] }),
  };
}

/** A `wasm:` module as the artifact `kiln push` would make of it, and the reference it is bundled under. */
async function localArtifact(
  name: string,
  wasmPath: string,
  signaturePath: string | undefined,
  manifest: LoadedManifest,
  prefix: string,
): Promise<{ artifact: ModuleArtifact; reference: string }> {
  let wasm: Uint8Array;
  try {
    wasm = await Deno.readFile(wasmPath);
  } catch (err) {
    throw new ModuleNotFoundError(name, wasmPath, { cause: err });
  }
  const sigPath = signaturePath === undefined ? `${wasmPath}.sig` : resolve(manifest.dir, signaturePath);
  let signature: Uint8Array | null = null;
  try {
    signature = await Deno.readFile(sigPath);
  } catch (err) {
    // No bundle beside the module: bundled unsigned (import refuses it under signatures: required).
    if (!(err instanceof Deno.errors.NotFound) || signaturePath !== undefined) throw err;
  }
  const catalog = signature === null ? null : await signedCatalog(signature, wasm, name, "bundle");
  const artifact = await buildModuleArtifact({
    wasm,
    fileName: wasmPath.replace(/^.*\//, ""),
    signature,
    catalog,
  });
  // A tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (distribution-spec): a semver's "+" becomes "-".
  const tag = (catalog?.version ?? "unsigned").replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 128);
  const ref = parseImageReference(`${prefix}/${name}:${tag}@${artifact.digest}`);
  return { artifact, reference: formatImageReference(ref) };
}
