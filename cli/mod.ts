/**
 * The `kiln` command line (docs/cli.md): the gateway (`run`), its tools, and commands for a running one.
 * Every user mistake ends as one clear message on stderr and a non-zero exit code, never a stack trace.
 *
 * @module
 */
import { isKilnError } from "../errors.ts";
import { commandSection, UsageError, wantsHelp } from "./_usage.ts";
import { closest } from "../runtime/_near.ts";

/** Kiln's version, from `deno.json`. */
export const VERSION = "0.1.0";

/** The usage text; the help of the larger commands comes from their own modules (loaded for it only). */
async function help(): Promise<string> {
  const [{ BUNDLE_HELP }, { FLEET_HELP }, { RECORD_HELP }, { REPLAY_HELP }, { SHADOW_HELP }] = await Promise
    .all([
      import("./bundle.ts"),
      import("./fleet.ts"),
      import("./record.ts"),
      import("./replay.ts"),
      import(
        "./shadow.ts"
      ),
    ]);
  const [{ STATUS_HELP }, { LOGS_HELP }, { DEPLOY_HELP }, { EVENTS_HELP }, { ALERTS_HELP }] = await Promise
    .all([
      import("./status.ts"),
      import("./logs.ts"),
      import("./deploy.ts"),
      import("./events.ts"),
      import("./alerts.ts"),
    ]);
  return `kiln ${VERSION}: a WebAssembly edge runtime for industrial gateways

Usage:
  kiln run [--config FILE] [--data DIR] [--listen HOST:PORT] [--fault SENSOR=FAULT]... [--log-format F]
      Start the runtime. Without --config it runs the built-in demo plant (examples/demo.yaml).
      --data        directory for Kiln's state (default ./data); one kiln run at a time may use it. A
                    restart comes back to what was last accepted: the manifest's modules with the API's
                    deploys, removals, stops and rollbacks since (see kiln history)
      --listen      API address (default: the manifest's api.listen, else 127.0.0.1:8080)
      --fault       inject a simulated fault at start, e.g. vibration_1=bearing or temperature_1=overheat
      --log-format  text (default; a module's lines start "module=NAME" with its text quoted) or json (one
                    object per line); also $KILN_LOG_FORMAT
      The embedded MQTT broker (connectors.mqtt.embedded) takes the user name and password that Kiln
      generates on its first start and keeps in DIR/mqtt-embedded.json (mode 0600).
  kiln validate <manifest>
      Check a deployment manifest and every module it names; print all problems with their lines.
  kiln inspect <module.wasm>
      Show a module's imports, exports, memory limits and the capabilities its imports need.
  kiln audit [--data DIR] [--module NAME] [--kind grant|revoke|denial|signature|alert_ack] [--limit N]
             [--uses] [--json]
      Show the audit log: grants, revocations and denied calls, or with --uses the use counts per capability.
  kiln snapshot <module> [--url URL] [--token TOKEN]
      Snapshot a snapshotted module of a running runtime now (URL default http://127.0.0.1:8080; the
      token defaults to $KILN_TOKEN, else the data directory's admin.token).
  kiln snapshot --list [module] [--data DIR] [--json]
      List the snapshots in a data directory.
  kiln history [--data DIR] [--module NAME] [--limit N] [--json]
  kiln history --url URL [--token TOKEN] [--module NAME] [--json]
      The record of accepted deployments: every deploy, replace, remove, stop, start, rollback and manifest
      change, with who, when and the module's sha256; with --url, also which source (the manifest file or
      the API) won for each module at the running runtime's start, and why.
${STATUS_HELP}
${LOGS_HELP}
${DEPLOY_HELP}
  kiln rollback <module> [--version N] [--url URL] [--token T | --token-file F] [--json]
      Return a module of a running runtime to a version it keeps, code and memory: version N, or the one
      before the version it runs (its versions: GET /api/v1/modules/<module>/versions).
${EVENTS_HELP}
${ALERTS_HELP}
  kiln token create --role viewer|operator|admin [--name NAME] [--data DIR]
  kiln token list [--data DIR] [--json]
  kiln token revoke <id> [--data DIR]
      API tokens. The first "kiln run" creates an admin token in DIR/admin.token (unless
      KILN_ADMIN_TOKEN is set, which is then the admin token).
  kiln keys ca --out DIR [--name NAME] [--days N] [--crl-days N]
      A lab or plant CA: root and intermediate (Ed25519), their keys (mode 0600) and CRLs.
  kiln keys create --out DIR --name "Jane Doe"
      A developer's signing key and certificate signing request (CSR).
  kiln keys issue --ca DIR --csr FILE [--days N] [--out FILE]
      The CA's intermediate issues the developer's code-signing certificate from the CSR.
  kiln keys revoke --ca DIR --cert FILE [--crl-days N]
  kiln keys crl --ca DIR [--crl-days N]
      Revoke a certificate (adds it to its CA's CRL), or renew both CRLs before they expire.
  kiln sign <module.wasm> --key KEY --cert CERT --chain INTERMEDIATE --attest FILE [--name NAME] [--out FILE]
      Sign a module: a DSSE envelope of an in-toto statement (name, sha256, the attestation's build and
      catalog, JSON or YAML) with the certificate chain, written to module.wasm.sig.
  kiln verify <module.wasm> --trust ROOT.pem [--sig FILE] [--crl FILE]... [--require-crls] [--name NAME]
              [--hardware TAG] [--runtime-version V] [--installed-version V] [--capability CAP]...
              [--max-memory-mb N] [--at TIME] [--json]
      Verify a module's signature as a gateway does; print the signer, chain and attestation, or the
      reason it is refused (unsigned, digest_mismatch, expired, revoked, ...) and exit 1.
  kiln push <module.wasm> <registry>/<repo>:<tag> [--sig FILE] [--username U --password-file F]
            [--ca-file PEM] [--plain-http] [--timeout-ms N]
      Upload a module to an OCI registry (CNCF Wasm artifact) with its signature (module.wasm.sig, or
      --sig) attached as a referrer; print the manifest digest.
  kiln pull <registry>/<repo>:<tag>[@sha256:...] [--out DIR] [--username U --password-file F]
            [--ca-file PEM] [--plain-http] [--timeout-ms N]
      Download a module, checking every digest; write NAME.wasm and NAME.wasm.sig (when signed) to DIR.
${BUNDLE_HELP}
${FLEET_HELP}
${RECORD_HELP}
${REPLAY_HELP}
${SHADOW_HELP}
${(await import("./new.ts")).NEW_HELP}
  kiln --version | --help
  kiln <command> --help
      One command's usage, with an example.

${EXIT_CODES}`;
}

/** The exit codes, for `kiln --help` and each command's help (docs/cli.md has them too). */
const EXIT_CODES =
  `Exit codes: 0 success, 1 invalid input (manifest, module, file) or refused by the gateway, 2 wrong
usage, 3 the gateway cannot be reached (status, logs, deploy, rollback, events, alerts; or their followed
stream was lost 6 times in a row).`;

/** An example of each command, for `kiln <command> --help`. */
const EXAMPLES: ReadonlyMap<string, string> = new Map([
  ["run", "kiln run examples/demo.yaml --data ./data --fault vibration_1=bearing"],
  ["validate", "kiln validate examples/demo.yaml"],
  ["inspect", "kiln inspect modules/fft/fft.wasm"],
  ["audit", "kiln audit --data ./data --kind denial --limit 20"],
  ["snapshot", "kiln snapshot anomaly --url http://127.0.0.1:8080"],
  ["history", "kiln history --url http://127.0.0.1:8080 --module fft"],
  ["rollback", "kiln rollback fft --version 2 --url http://127.0.0.1:8080"],
  ["status", "kiln status --url http://127.0.0.1:8080 --data ./data"],
  ["logs", "kiln logs anomaly -f --data ./data"],
  ["deploy", "kiln deploy extra.wasm --name extra --spec extra.yaml --url http://127.0.0.1:8080"],
  ["events", "kiln events --module aggregator --limit 10"],
  ["alerts", "kiln alerts --severity critical -f"],
  ["token", "kiln token create --role operator --name line-1-hmi --data ./data"],
  ["keys", 'kiln keys create --out keys/ --name "Jane Doe"'],
  [
    "sign",
    "kiln sign fft.wasm --key keys/dev.key --cert keys/dev.pem --chain ca/intermediate.pem --attest build.json",
  ],
  ["verify", "kiln verify fft.wasm --trust ca/root.pem --json"],
  ["push", "kiln push fft.wasm registry.plant.local/kiln/fft:1.2.0"],
  ["pull", "kiln pull registry.plant.local/kiln/fft:1.2.0 --out modules/"],
  ["fleet", "kiln fleet status --data ./fleet-data --json"],
  ["bundle", "kiln bundle export --out plant.tar --manifest kiln.yaml"],
  ["record", "kiln record fft --url http://127.0.0.1:8080 --for 10s --out fft.ktrace"],
  ["replay", "kiln replay fft.ktrace --module fft-new.wasm"],
  ["shadow", "kiln shadow fft fft-new.wasm --url http://127.0.0.1:8080"],
  ["new", "kiln new vibration-rms --lang rust && ./vibration-rms/build.sh"],
]);

/** `kiln <command> --help`: its part of `kiln --help`, an example and the exit codes. */
async function commandHelp(command: string): Promise<string> {
  const section = commandSection(await help(), command) ?? `  kiln ${command}`;
  const example = EXAMPLES.get(command);
  return `Usage:\n${section}\n${example === undefined ? "" : `\nExample:\n  ${example}\n`}\n${EXIT_CODES}`;
}

/** A command's entry: its arguments after the command's name, and Kiln's version. */
type Command = (args: string[], version: string) => Promise<number>;

/**
 * Every command, loaded when it runs: a `kiln run` loads neither the fleet controller nor the registry
 * client nor the signing tools, so it starts sooner and holds less (issue #20).
 */
const COMMANDS: ReadonlyMap<string, () => Promise<Command>> = new Map<string, () => Promise<Command>>([
  ["run", async () => (await import("./run.ts")).runCommand],
  ["validate", async () => (await import("./validate.ts")).validateCommand],
  ["inspect", async () => (await import("./inspect.ts")).inspectCommand],
  ["audit", async () => (await import("./audit.ts")).auditCommand],
  ["snapshot", async () => (await import("./snapshot.ts")).snapshotCommand],
  ["history", async () => (await import("./history.ts")).historyCommand],
  ["rollback", async () => (await import("./rollback.ts")).rollbackCommand],
  ["token", async () => (await import("./token.ts")).tokenCommand],
  ["keys", async () => (await import("./keys.ts")).keysCommand],
  ["sign", async () => (await import("./sign.ts")).signCommand],
  ["verify", async () => (await import("./verify.ts")).verifyCommand],
  ["push", async () => (await import("./push.ts")).pushCommand],
  ["pull", async () => (await import("./pull.ts")).pullCommand],
  ["fleet", async () => (await import("./fleet.ts")).fleetCommand],
  ["bundle", async () => (await import("./bundle.ts")).bundleCommand],
  ["record", async () => (await import("./record.ts")).recordCommand],
  ["replay", async () => (await import("./replay.ts")).replayCommand],
  ["shadow", async () => (await import("./shadow.ts")).shadowCommand],
  ["status", async () => (await import("./status.ts")).statusCommand],
  ["logs", async () => (await import("./logs.ts")).logsCommand],
  ["deploy", async () => (await import("./deploy.ts")).deployCommand],
  ["events", async () => (await import("./events.ts")).eventsCommand],
  ["alerts", async () => (await import("./alerts.ts")).alertsCommand],
  ["new", async () => (await import("./new.ts")).newCommand],
]);

/** Runs the CLI with `args` and returns the exit code (`run` returns only when the runtime stops). */
export async function main(args: string[]): Promise<number> {
  try {
    const [command, ...rest] = args;
    switch (command) {
      case undefined:
      case "--help":
      case "-h":
      case "help":
        console.log(await help());
        return 0;
      case "--version":
      case "-V":
        console.log(`kiln ${VERSION}`);
        return 0;
    }
    const load = COMMANDS.get(command);
    if (load === undefined) {
      const near = closest(command, [...COMMANDS.keys()]);
      throw new UsageError(`Unknown command "${command}"${near === null ? "" : `; did you mean "${near}"?`}`);
    }
    if (wantsHelp(rest)) {
      console.log(await commandHelp(command));
      return 0;
    }
    return await (await load())(rest, VERSION);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`kiln: ${err.message}\nRun "kiln --help" for usage.`);
      return 2;
    }
    if (isKilnError(err)) {
      console.error(`kiln: ${err.message}`);
      return 1;
    }
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      // The command's Deno permissions (e.g. `deno task start` writes only ./data) do not allow what was asked.
      console.error(
        `kiln: ${
          err.message.replace(/, run again with.*$/, "")
        }: this command's permissions do not allow it ` +
          `(deno task start uses ./data and ./examples; use "deno task kiln run --data DIR" for other paths)`,
      );
      return 1;
    }
    if (err instanceof Error && Object.values(Deno.errors).some((E) => err instanceof E)) {
      // A file-system or network failure of the environment, e.g. a --data path that is a file.
      console.error(`kiln: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
