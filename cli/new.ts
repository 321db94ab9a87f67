/**
 * `kiln new <name> --lang c|rust|as [--dir D]`: writes a module project that builds on its own, outside this
 * repository: a stream module skeleton with a comment on each ABI call (`_new_templates.ts`), the language's
 * SDK files copied in, a `kiln.yaml` with the capabilities the skeleton uses, and a `build.sh`.
 *
 * The SDK files come from the copies a bundle carries (`embed/`), else from the source tree beside this file
 * (`deno task start`, `deno task kiln`, a `deno compile` binary, which includes `modules/`).
 *
 * @module
 */
import { basename, join, resolve } from "node:path";
import { KilnError } from "../errors.ts";
import { getEmbedded } from "../embed/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { buildScript, type Lang, LAYOUT, manifestSource, moduleSource } from "./_new_templates.ts";

/** `kiln new`'s part of `kiln --help`. */
export const NEW_HELP = `  kiln new <name> --lang c|rust|as [--dir DIR]
      Write a module project in DIR (default ./<name>): a stream module skeleton commented call by call,
      the language's SDK, kiln.yaml (a manifest with the capabilities it uses) and build.sh (clang-19 and
      lld-19; rustc and libstd-rust-dev-wasm32; or npm for AssemblyScript). DIR must be new or empty.`;

/** Module names: the manifest's rule (`runtime/manifest/_zod.ts`, `MODULE_NAME`). */
const MODULE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** The SDK files each language's project gets, by repository path; copied into the project's SDK folder. */
export const SDK_FILES: Readonly<Record<Lang, readonly string[]>> = {
  c: [
    "modules/sdk/kiln.h",
    "modules/sdk/kiln_rt.c",
    "modules/sdk/kiln_fixed.h",
    "modules/sdk/kiln_fixed.c",
    "modules/sdk/fft_q15.h",
    "modules/sdk/fft_q15.c",
    "modules/sdk/kmath.h",
  ],
  rust: [
    "modules/sdk/rust/src/lib.rs",
    "modules/sdk/rust/src/raw.rs",
    "modules/sdk/rust/src/runtime.rs",
    "modules/sdk/rust/src/handlers.rs",
    "modules/sdk/rust/src/fixed.rs",
  ],
  as: [
    "modules/sdk/assemblyscript/assembly/index.ts",
    "modules/sdk/assemblyscript/assembly/fixed.ts",
  ],
};

/** Where an SDK file goes in a project: the language's SDK folder, with the crate's `src/` kept for Rust. */
function projectPath(lang: Lang, repoPath: string): string {
  const sdk = LAYOUT[lang].sdkDir;
  if (lang === "rust") return `${sdk}/src/${basename(repoPath)}`;
  if (lang === "as") return `${sdk}/assembly/${basename(repoPath)}`;
  return `${sdk}/${basename(repoPath)}`;
}

/** The name given to `kiln new` is not a valid module name. */
export class InvalidModuleNameError extends KilnError {
  readonly code = "invalid_module_name";
  readonly kind = "invalid";
  constructor(readonly moduleName: string) {
    super(
      `Cannot create module "${moduleName}": a module name is a lowercase letter, then up to 62 lowercase ` +
        `letters, digits, "_" or "-"${
          /[A-Z]/.test(moduleName) && MODULE_NAME.test(moduleName.toLowerCase())
            ? ` (did you mean "${moduleName.toLowerCase()}"?)`
            : ""
        }`,
    );
  }
}

/** The project folder exists and is not empty (or is not a folder). */
export class ProjectExistsError extends KilnError {
  readonly code = "project_exists";
  readonly kind = "conflict";
  constructor(readonly path: string, reason: string) {
    super(`Cannot create the project in "${path}": ${reason}; choose another --dir or empty it`);
  }
}

/** The bytes of an SDK file: the bundle's copy, else the file in the source tree. */
async function readSdkFile(repoPath: string): Promise<Uint8Array> {
  return getEmbedded(repoPath) ?? await Deno.readFile(new URL(`../${repoPath}`, import.meta.url));
}

/** Throws unless `dir` is missing or an empty folder. */
async function checkTarget(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!info.isDirectory) throw new ProjectExistsError(dir, "it is a file");
  for await (const _ of Deno.readDir(dir)) throw new ProjectExistsError(dir, "the folder is not empty");
}

/** Options of {@link createProject}. */
export interface CreateProjectOptions {
  /** The project folder. @default `./<name>` */
  dir?: string;
}

/**
 * Writes a module project; returns the project's files, relative to its folder, in the order written.
 *
 * @throws {InvalidModuleNameError} when `name` is not a valid module name.
 * @throws {ProjectExistsError} when the folder exists and is not empty.
 */
export async function createProject(
  name: string,
  lang: Lang,
  options: CreateProjectOptions = {},
): Promise<{ dir: string; files: string[] }> {
  if (!MODULE_NAME.test(name)) throw new InvalidModuleNameError(name);
  const dir = resolve(options.dir ?? name);
  await checkTarget(dir);
  const files = new Map<string, Uint8Array | string>();
  files.set(LAYOUT[lang].source(name), moduleSource(lang, name));
  for (const path of SDK_FILES[lang]) files.set(projectPath(lang, path), await readSdkFile(path));
  files.set("kiln.yaml", manifestSource(name, lang));
  files.set("build.sh", buildScript(name, lang, SDK_FILES[lang].map((p) => projectPath(lang, p))));
  for (const [path, content] of files) {
    const target = join(dir, path);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    const mode = path === "build.sh" ? 0o755 : 0o644;
    if (typeof content === "string") await Deno.writeTextFile(target, content, { mode });
    else await Deno.writeFile(target, content, { mode });
  }
  return { dir, files: [...files.keys()] };
}

/** `kiln new`: writes the project and prints its files and what to run next; 0 on success. */
export async function newCommand(args: string[]): Promise<number> {
  const { positionals, values } = parse(args, {
    options: { lang: { type: "string" }, dir: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("new takes exactly one module name");
  const lang = values.lang;
  if (lang === undefined) throw new UsageError("new needs --lang c, --lang rust or --lang as");
  if (lang !== "c" && lang !== "rust" && lang !== "as") {
    throw new UsageError(`Unknown --lang "${lang}" (expected c, rust or as)`);
  }
  const name = positionals[0]!;
  const { dir, files } = await createProject(name, lang, values.dir === undefined ? {} : { dir: values.dir });
  console.log(`Created module "${name}" (${lang}) in ${dir}:`);
  for (const f of files) console.log(`  ${f}`);
  console.log(`Next:\n  cd ${dir}\n  ./build.sh\n  kiln validate kiln.yaml\n  kiln run --config kiln.yaml`);
  return 0;
}
