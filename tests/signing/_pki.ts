/**
 * A test PKI minted with Debian's `openssl` (`openssl ca`, so every certificate's validity window is set
 * exactly): a root CA, an intermediate CA and a developer's code-signing certificate, all Ed25519, each CA
 * with its own `openssl ca` database for revocations and CRLs. Every `openssl` call is bounded by
 * `TOOL_TIMEOUT_MS`.
 *
 * @module
 */
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

const DAY_MS = 86_400_000;

/** A validity window, as `openssl ca -startdate/-enddate` take it. */
export interface Window {
  from: Date;
  to: Date;
}

/** `days` from now (negative: in the past). */
export function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * DAY_MS);
}

/** A window from `fromDays` to `toDays` relative to now. */
export function window(fromDays: number, toDays: number): Window {
  return { from: daysFromNow(fromDays), to: daysFromNow(toDays) };
}

/** One party of the PKI: its key and certificate files and their PEM text. */
export interface Party {
  keyPath: string;
  certPath: string;
  keyPem: string;
  certPem: string;
  /** The `openssl ca` config of a CA (absent for the developer). */
  config?: string;
}

/** A minted PKI. */
export interface TestPki {
  dir: string;
  root: Party;
  intermediate: Party;
  developer: Party;
}

/** Options of {@linkcode mintPki}. */
export interface MintOptions {
  /** Prefix of the CAs' common names. @default "Test" */
  name?: string;
  /** Developer's common name. @default "Jane Doe" */
  developer?: string;
  root?: Window;
  intermediate?: Window;
  developerWindow?: Window;
  /** Extensions section of the developer's certificate. @default "v3_leaf" */
  developerExtensions?: "v3_leaf" | "v3_leaf_ca";
}

/** Runs `openssl args...` in `cwd`, bounded; returns stdout, throws with stderr when it fails. */
export async function openssl(args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    // node-opcua's PKI code sets OPENSSL_CONF in this process's environment (to "undefined" when it has no
    // file): after an OPC UA test file in the same `deno test`, openssl would fail to read its config.
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`openssl ${args.join(" ")} failed:\n${text(out.stderr)}`);
  return text(out.stdout);
}

/** `openssl ca` date form, `YYYYMMDDHHMMSSZ`. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

function caConfig(dir: string): string {
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = default
policy = policy_any
unique_subject = no
copy_extensions = none
default_crl_days = 30
[ policy_any ]
commonName = supplied
[ v3_root ]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ v3_int ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_leaf_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;
}

async function newCa(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/newcerts`, { recursive: true });
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/serial`, `${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}\n`);
  await Deno.writeTextFile(`${dir}/crlnumber`, "1000\n");
  const config = `${dir}/ca.cnf`;
  await Deno.writeTextFile(config, caConfig(dir));
  return config;
}

async function keyAndCsr(dir: string, name: string, cn: string): Promise<{ key: string; csr: string }> {
  const key = `${dir}/${name}.key`;
  const csr = `${dir}/${name}.csr`;
  await openssl(["genpkey", "-algorithm", "ed25519", "-out", key], dir);
  await openssl(["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", csr], dir);
  return { key, csr };
}

async function party(keyPath: string, certPath: string, config?: string): Promise<Party> {
  return {
    keyPath,
    certPath,
    keyPem: await Deno.readTextFile(keyPath),
    certPem: await Deno.readTextFile(certPath),
    ...(config ? { config } : {}),
  };
}

/**
 * Mints a root, an intermediate and a developer certificate in `dir` with openssl. Windows default to
 * one day ago until 10 years (root), 5 years (intermediate) and 1 year (developer) from now.
 */
export async function mintPki(dir: string, options: MintOptions = {}): Promise<TestPki> {
  const name = options.name ?? "Test";
  const rootDir = `${dir}/root`;
  const intDir = `${dir}/intermediate`;
  const devDir = `${dir}/developer`;
  await Deno.mkdir(devDir, { recursive: true });
  const rootConfig = await newCa(rootDir);
  const intConfig = await newCa(intDir);
  const dates = (w: Window) => ["-startdate", asn1Time(w.from), "-enddate", asn1Time(w.to)];

  const root = await keyAndCsr(rootDir, "root", `${name} Root CA`);
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    rootConfig,
    "-selfsign",
    "-keyfile",
    root.key,
    "-in",
    root.csr,
    "-extensions",
    "v3_root",
    ...dates(options.root ?? window(-1, 3650)),
    "-out",
    `${rootDir}/root.pem`,
  ], rootDir);

  const int = await keyAndCsr(intDir, "intermediate", `${name} Intermediate CA`);
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    rootConfig,
    "-cert",
    `${rootDir}/root.pem`,
    "-keyfile",
    root.key,
    "-in",
    int.csr,
    "-extensions",
    "v3_int",
    ...dates(options.intermediate ?? window(-1, 1825)),
    "-out",
    `${intDir}/intermediate.pem`,
  ], rootDir);

  const dev = await keyAndCsr(devDir, "developer", options.developer ?? "Jane Doe");
  await openssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    intConfig,
    "-cert",
    `${intDir}/intermediate.pem`,
    "-keyfile",
    int.key,
    "-in",
    dev.csr,
    "-extensions",
    options.developerExtensions ?? "v3_leaf",
    ...dates(options.developerWindow ?? window(-1, 365)),
    "-out",
    `${devDir}/developer.pem`,
  ], intDir);

  return {
    dir,
    root: await party(root.key, `${rootDir}/root.pem`, rootConfig),
    intermediate: await party(int.key, `${intDir}/intermediate.pem`, intConfig),
    developer: await party(dev.key, `${devDir}/developer.pem`),
  };
}

/**
 * Revokes `certPath` in `ca`'s openssl database (`openssl ca -revoke`) and returns the CA's new CRL
 * (`openssl ca -gencrl`), valid `crlDays`.
 */
export async function revoke(ca: Party, certPath: string, crlDays = 30): Promise<string> {
  await openssl(caArgs(ca, ["-revoke", certPath]), caDir(ca));
  return await crl(ca, crlDays);
}

/** `ca`'s current CRL from its openssl database, valid `crlDays` (`openssl ca -gencrl`). */
export async function crl(ca: Party, crlDays = 30): Promise<string> {
  const out = `${caDir(ca)}/ca-${crypto.randomUUID()}.crl`;
  await openssl(caArgs(ca, ["-gencrl", "-crldays", String(crlDays), "-out", out]), caDir(ca));
  return await Deno.readTextFile(out);
}

/** The folder of `ca`'s openssl database. */
const caDir = (ca: Party) => ca.config!.replace(/\/ca\.cnf$/, "");

/** `openssl ca -batch` with `ca`'s config, certificate and key, then `extra`. */
const caArgs = (ca: Party, extra: string[]) => [
  "ca",
  "-batch",
  "-config",
  ca.config!,
  "-cert",
  ca.certPath,
  "-keyfile",
  ca.keyPath,
  ...extra,
];

/** A temporary directory for one test file, removed by `dispose`. */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
