/**
 * `kiln inspect <module.wasm>`.
 *
 * @module
 */
import { HOST_IMPORTS, HOST_NAMESPACE } from "../runtime/abi.ts";
import { ModuleNotFoundError } from "../runtime/errors.ts";
import { abiProblems, sha256Hex } from "../runtime/loader.ts";
import { formatInspect, inspectModule, readModule } from "../runtime/wasm/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Prints a module's imports, exports, memory and needed capabilities; 1 when the file is not valid Wasm. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { positionals, values } = parse(args, {
    options: { json: { type: "boolean" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("inspect takes exactly one .wasm file");
  const path = positionals[0]!;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new ModuleNotFoundError(path, path, { cause: err });
  }
  const info = readModule(bytes);
  const capabilityFor = (module: string, name: string) =>
    module === HOST_NAMESPACE ? HOST_IMPORTS[name]?.capability ?? null : null;
  const report = inspectModule(info, { capabilityFor });
  const problems = abiProblems(info, null);
  const sha256 = await sha256Hex(bytes);
  if (values.json) {
    console.log(
      JSON.stringify({ path, sha256, size_bytes: bytes.length, ...report, abi_problems: problems }, null, 2),
    );
  } else {
    console.log(`${path}\n  sha256 ${sha256}, ${bytes.length} bytes`);
    console.log(formatInspect(report));
    console.log(
      problems.length === 0
        ? "ABI v1: compatible"
        : `ABI v1: not compatible\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  return 0;
}
