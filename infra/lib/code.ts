// Where each function's code comes from, chosen by the SCIM_ASSETS environment variable:
//
//   (unset) or cargo-lambda  RustFunction from cargo-lambda-cdk: every function is compiled
//                            during synth (needs cargo-lambda, or Docker as its fallback).
//                            Use this for real deployments.
//   prebuilt                 Code.fromAsset(<SCIM_ASSETS_DIR>/<name>), default dir
//                            <repo>/target/lambda, i.e. the output of
//                            `cargo lambda build --release --arm64` (or --x86-64) run first.
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

function prebuiltDir(name: string, env: NodeJS.ProcessEnv): string {
  const root = env.SCIM_ASSETS_DIR ?? path.join(REPO_ROOT, 'target', 'lambda');
  const dir = path.join(root, name);
  if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
    throw new Error(
      `SCIM_ASSETS=prebuilt: ${dir}/bootstrap not found; run \`cargo lambda build --release --arm64\` ` +
        '(or --x86-64, matching the tenant\'s architecture) in the repository root first',
    );
  }
  return dir;
}

export interface RustLambdaProps extends lambda.FunctionOptions {
  /** Cargo package and binary name (functions/<name>). */
  readonly binary: string;
  readonly architecture: lambda.Architecture;
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
  const dir = mode === 'placeholder' ? placeholderDir(binary) : prebuiltDir(binary, process.env);
  return new lambda.Function(scope, id, {
    ...options,
    runtime: lambda.Runtime.PROVIDED_AL2023,
    handler: 'bootstrap',
    code: lambda.Code.fromAsset(dir),
  });
}
