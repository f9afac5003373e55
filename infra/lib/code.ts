// Where each function's code comes from, chosen by the SCIM_ASSETS environment variable:
//
//   (unset) or cargo-lambda  RustFunction from cargo-lambda-cdk: every function is compiled
//                            during synth (needs cargo-lambda, or Docker as its fallback).
//                            Use this for real deployments.
//   prebuilt                 Code.fromAsset(<SCIM_ASSETS_DIR>/<name>), default dir
//                            <repo>/target/lambda-<architecture> when it exists (the output
//                            of `cargo lambda build --release --arm64 --lambda-dir
//                            target/lambda-arm64`, or --x86-64 into target/lambda-x86_64),
//                            else <repo>/target/lambda. Each bootstrap's ELF header must name
//                            the tenant's architecture, or synth fails: a binary of the other
//                            architecture would break every request.
//   placeholder              A tiny placeholder `bootstrap` per function in a temp folder.
//                            Synthesises in seconds with no Rust toolchain; the templates
//                            are identical apart from asset hashes. For checks only:
//                            never deploy this.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export type AssetMode = 'cargo-lambda' | 'prebuilt' | 'placeholder';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export function assetModeFromEnv(env: NodeJS.ProcessEnv = process.env): AssetMode {
  const mode = env.SCIM_ASSETS ?? 'cargo-lambda';
  if (mode === 'cargo-lambda' || mode === 'prebuilt' || mode === 'placeholder') return mode;
  throw new Error(`SCIM_ASSETS must be cargo-lambda (default), prebuilt or placeholder, not "${mode}"`);
}

const PLACEHOLDER = '#!/bin/sh\necho "placeholder asset: build the function with cargo lambda" >&2\nexit 1\n';

function placeholderDir(name: string): string {
  const dir = path.join(os.tmpdir(), 'scim-placeholder-assets', name);
  const file = path.join(dir, 'bootstrap');
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== PLACEHOLDER) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, PLACEHOLDER, { mode: 0o755 });
  }
  return dir;
}

export type ArchitectureName = 'arm64' | 'x86_64';

// ELF e_machine values (EM_X86_64, EM_AARCH64), as infra/artifacts.py reads them.
const ELF_MACHINES: Record<number, ArchitectureName> = { 0x3e: 'x86_64', 0xb7: 'arm64' };

/** The architecture an ELF binary was built for, or a description of what it is instead. */
export function elfArchitecture(file: string): string {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  let read: number;
  try {
    read = fs.readSync(fd, head, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (read < 20 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF binary';
  if (head[4] !== 2) return 'not a 64-bit ELF binary';
  const machine = head[5] === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18);
  return ELF_MACHINES[machine] ?? `ELF machine 0x${machine.toString(16)}`;
}

function prebuiltDir(name: string, architecture: ArchitectureName, env: NodeJS.ProcessEnv): string {
  const perArchitecture = path.join(REPO_ROOT, 'target', `lambda-${architecture}`);
  const root = env.SCIM_ASSETS_DIR ?? (fs.existsSync(perArchitecture) ? perArchitecture : path.join(REPO_ROOT, 'target', 'lambda'));
  const dir = path.join(root, name);
  const flag = architecture === 'arm64' ? '--arm64' : '--x86-64';
  const build = `cargo lambda build --release ${flag} --lambda-dir target/lambda-${architecture}`;
  if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
    throw new Error(`SCIM_ASSETS=prebuilt: ${dir}/bootstrap not found; run \`${build}\` in the repository root first`);
  }
  const built = elfArchitecture(path.join(dir, 'bootstrap'));
  if (built !== architecture) {
    throw new Error(
      `SCIM_ASSETS=prebuilt: ${dir}/bootstrap is ${built}, but the tenant's functions run ${architecture}; ` +
        `run \`${build}\` (or set SCIM_ASSETS_DIR to binaries built for ${architecture})`,
    );
  }
  return dir;
}

export interface RustLambdaProps extends lambda.FunctionOptions {
  /** Cargo package and binary name (functions/<name>). */
  readonly binary: string;
  readonly architecture: lambda.Architecture;
}

function architectureName(architecture: lambda.Architecture): ArchitectureName {
  if (architecture === lambda.Architecture.ARM_64) return 'arm64';
  if (architecture === lambda.Architecture.X86_64) return 'x86_64';
  throw new Error(`unsupported architecture ${architecture.name}`);
}

/** A provided.al2023 function running the named Rust binary, its code chosen by `mode`. */
export function rustLambda(scope: Construct, id: string, mode: AssetMode, props: RustLambdaProps): lambda.Function {
  const { binary, ...options } = props;
  if (mode === 'cargo-lambda') {
    // Loaded only here, so the other modes never touch the Rust toolchain.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { RustFunction } = require('cargo-lambda-cdk') as typeof import('cargo-lambda-cdk');
    return new RustFunction(scope, id, {
      ...options,
      manifestPath: path.join(REPO_ROOT, 'Cargo.toml'),
      binaryName: binary,
      bundling: { architecture: props.architecture },
    });
  }
  const dir = mode === 'placeholder' ? placeholderDir(binary) : prebuiltDir(binary, architectureName(props.architecture), process.env);
  return new lambda.Function(scope, id, {
    ...options,
    runtime: lambda.Runtime.PROVIDED_AL2023,
    handler: 'bootstrap',
    code: lambda.Code.fromAsset(dir),
  });
}
