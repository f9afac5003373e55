#!/usr/bin/env node
// One SCIM stack per tenant listed in infra/tenants.json (or $SCIM_TENANTS_FILE).
// Functions come from infra/functions.json, the table from shared/table.json.
// Offline check: `SCIM_ASSETS=placeholder npx cdk synth` (see infra/README.md).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { assetModeFromEnv, REPO_ROOT } from '../lib/code';
import { loadFunctions, loadTable, loadTenants } from '../lib/definitions';
import { TenantStack } from '../lib/tenant-stack';

const app = new App();
const functions = loadFunctions(path.join(REPO_ROOT, 'infra', 'functions.json'));
const table = loadTable(path.join(REPO_ROOT, 'shared', 'table.json'), functions);
const tenants = loadTenants(process.env.SCIM_TENANTS_FILE ?? path.join(REPO_ROOT, 'infra', 'tenants.json'));
const assetMode = assetModeFromEnv();
// The build's version (Version output, scim:version tag): $SCIM_VERSION, else infra/version.sh.
const version = process.env.SCIM_VERSION ?? buildVersion();
if (!/^[A-Za-z0-9._+-]{1,128}$/.test(version)) throw new Error(`SCIM_VERSION "${version}" must match ^[A-Za-z0-9._+-]{1,128}$`);

function buildVersion(): string {
  try {
    return execFileSync(path.join(REPO_ROOT, 'infra', 'version.sh'), { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

for (const tenant of tenants) {
  new TenantStack(app, `Scim-${tenant.id}`, {
    env: { account: tenant.account, region: tenant.region },
    description: `SCIM 2.0 provisioning endpoint for tenant ${tenant.id}`,
    terminationProtection: tenant.options.terminationProtection,
    tenant,
    version,
    functions,
    table,
    assetMode,
  });
}
app.synth();
