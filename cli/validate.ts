/**
 * `kiln validate <manifest>`: the manifest (its references, capabilities and the device policy's limits), then
 * every module it names, as `kiln run` would load them.
 *
 * @module
 */
import { isKilnError } from "../errors.ts";
import { type LoadedManifest, loadManifest } from "../runtime/manifest/mod.ts";
import { type DeploymentPlan, loadModule, planDeployment, type ThreadCpus } from "../runtime/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Validates a manifest and its modules; prints every problem; 0 when all is well, 1 otherwise. */
export async function validateCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, { options: {}, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError("validate takes exactly one manifest file");
  const path = positionals[0]!;
  const manifest = await loadManifest(path);
  const plan = planDeployment(manifest);
  const problems: string[] = [];
  for (const m of plan.modules) {
    const image = manifest.modules[m.name]?.image;
    if (image !== undefined) {
      // Pulled, verified and cached by the gateway at its start, not here.
      console.log(`  ${m.name}: image ${image} (pulled at start)`);
      continue;
    }
    try {
      const loaded = await loadModule(m);
      console.log(`  ${m.name}: ${loaded.sizeBytes} bytes, sha256 ${loaded.sha256}, ${m.schedule.mode}`);
    } catch (err) {
      if (!isKilnError(err)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) {
    console.error(
      `kiln: manifest "${path}" is valid, but ${problems.length} of its modules cannot be loaded:`,
    );
    for (const p of problems) console.error(`  ${p.replaceAll("\n", "\n  ")}`);
    return 1;
  }
  for (const note of [...cpuNotes(plan.cpus), ...fuelNotes(manifest, plan)]) console.log(`  note: ${note}`);
  console.log(`Manifest "${path}" is valid: device "${plan.device.id}", ${plan.modules.length} modules`);
  return 0;
}

/** Modules that set no `limits.fuel` but are metered at the policy's `max_fuel`, which the user may not expect. */
function fuelNotes(manifest: LoadedManifest, plan: DeploymentPlan): string[] {
  const max = manifest.policy.max_fuel;
  if (max === undefined) return [];
  return plan.modules
    .filter((m) => manifest.modules[m.name]?.limits.fuel === undefined)
    .map((m) => `modules.${m.name} sets no limits.fuel: it is metered at policy.max_fuel (${max})`);
}

/**
 * `scheduling.cpus` entries this machine cannot honour (checked here, where the manifest is validated: the
 * gateway it runs on may differ). Not an error: `kiln run` leaves such a thread unpinned and says why.
 */
function cpuNotes(cpus: ThreadCpus | undefined): string[] {
  const count = navigator.hardwareConcurrency;
  return Object.entries(cpus ?? {}).flatMap(([thread, list]: [string, number[]]) => {
    const missing = list.filter((cpu) => cpu >= count);
    if (missing.length === 0) return [];
    return [
      `scheduling.cpus.${thread} lists CPU ${missing.join(", ")}, but this machine has ${count} (0-${
        count - 1
      })${missing.length === list.length ? `: kiln run here would leave that thread unpinned` : ""}`,
    ];
  });
}
