// Typed views of the three JSON files the app is built from: infra/functions.json (the one
// list of functions), shared/table.json (the one table definition) and infra/tenants.json.
// Loading validates them, so a typo fails `cdk synth` with a message instead of a stack.
import * as fs from 'node:fs';

export type FunctionKind = 'http' | 'rotation' | 'schedule' | 'stream' | 'event';

/** Which HTTP API an http function's routes are on: the IdP's SCIM API (/scim/v2 and
 * $default, no authorizer: the function checks the bearer token or an access token; and the
 * OAuth 2.0 token endpoint POST /oauth2/token, no authorizer: the function checks the client's
 * credentials) or the product's application API (/app/v1, AWS_IAM on every route). */
export type ApiKind = 'scim' | 'app';

/** The environment variables a function may be given (functions.json "environment"). */
export const ENVIRONMENT_VARIABLES = [
  'TABLE_NAME',
  'TENANT_ID',
  'TOKEN_SECRET_ARN',
  'SIGNING_SECRET_ARN',
  'TENANT_URL',
  'TOKEN_ENDPOINT',
  'ACCESS_TOKEN_LIFETIME',
  'ENTRA_LOGIN_URL',
  'EVENT_BUS_NAME',
  'RUST_LOG',
  'SET_RECEIVER_URL',
  'SET_SIGNING_SECRET_ARN',
  'SET_AUDIENCE',
] as const;
export type EnvironmentVariable = (typeof ENVIRONMENT_VARIABLES)[number];
/** The environment of a function without an "environment" list (every function before /app/v1);
 * a function with signingSecret actions also gets SIGNING_SECRET_ARN (environmentVariables). */
export const COMMON_ENVIRONMENT: readonly EnvironmentVariable[] = ['TABLE_NAME', 'TENANT_ID', 'TOKEN_SECRET_ARN', 'EVENT_BUS_NAME', 'RUST_LOG'];

/** The environment of a function: its "environment" list, else the common one. */
export function environmentVariables(def: FunctionDef): readonly EnvironmentVariable[] {
  if (def.environment) return def.environment;
  return def.signingSecret.length > 0 ? [...COMMON_ENVIRONMENT, 'SIGNING_SECRET_ARN'] : COMMON_ENVIRONMENT;
}

/** How the SCIM functions treat `Prefer: respond-async` (RFC 9967's securityEvents.asyncRequest):
 * "request", a write is accepted as a job item that async-worker runs from the table's stream.
 * Every SCIM function gets it (isScimFunction) beside its environment; lambda-gateway, which
 * runs no worker, leaves it unset, and the functions then answer such requests synchronously. */
export const ASYNC_REQUESTS = 'request';

/** A function serving the SCIM protocol (routes under /scim/v2, $default): not the token endpoint. */
export function isScimFunction(def: FunctionDef): boolean {
  return def.api === 'scim' && !def.routes.includes(TOKEN_ROUTE);
}

/** A stream function's event source mapping on the table's stream (functions.json "streamMapping"). */
export interface StreamMapping {
  /** The mapping's name: SAM's event name, the CDK construct `<Function><records>`. */
  readonly records: string;
  /** The FilterCriteria pattern, verbatim. */
  readonly filter: Record<string, unknown>;
  readonly batchSize: number;
  readonly maximumRetryAttempts: number;
  readonly maximumRecordAgeInSeconds: number;
}

export interface FunctionDef {
  readonly name: string;
  readonly kind: FunctionKind;
  /** "METHOD /path" route keys, or "$default". */
  readonly routes: string[];
  /** The function's timeout (seconds) when not its kind's (bulk). */
  readonly timeoutSeconds?: number;
  /** http functions: the API their routes are on (all routes of a function are on one). */
  readonly api?: ApiKind;
  readonly dynamodb: string[];
  readonly indexes: string[];
  /** DynamoDB actions on the tenant's settings item only (LeadingKeys {tenant}#S): SCIM functions. */
  readonly settingsItem: string[];
  /** When not empty, the whole dynamodb list applies only to these partitions ("{tenant}#O"):
   * a dynamodb:LeadingKeys condition on the table (and no index). */
  readonly leadingKeys: string[];
  /** The function's exact environment; COMMON_ENVIRONMENT (plus the kind's own) when absent. */
  readonly environment?: EnvironmentVariable[];
  readonly secretsmanager: string[];
  /** Actions on the tenant's access-token signing key secret (SCIM functions verify, oauth-token signs). */
  readonly signingSecret: string[];
  readonly events: string[];
  /** Actions on the stack's alarm topic (expire-contacts: the token notices). */
  readonly sns: string[];
  /** DynamoDB Streams actions on the table's stream (stream functions). */
  readonly stream: string[];
  /** Stream functions: the event source mapping (filter, batch size, retries, record age). */
  readonly streamMapping?: StreamMapping;
  /** Actions on the change events' dead-letter queue. */
  readonly sqs: string[];
  /** Actions on the SET signing key secret (publish-events signs the RFC 9967 SETs). */
  readonly setSigningSecret: string[];
  /** Actions on the Entra app registration's credentials secret (entra-guest-cleanup). */
  readonly entraSecret: string[];
  /** Actions on the function's own dead-letter queue (event and schedule functions; a stream
   * function with one sends its failed records there instead of the change events' queue). */
  readonly failureQueue: string[];
  /** The EventBridge pattern (on the tenant's bus) that invokes an event function. */
  readonly eventPattern?: Record<string, string[]>;
  /** Extra table access granted only when the tenant deletes expired contacts. */
  readonly whenExpiredActionDelete?: { readonly dynamodb: string[]; readonly indexes: string[] };
}

/** shared/table.json: CloudFormation-shaped (PascalCase) table properties. */
export interface TableDef {
  readonly KeySchema: { AttributeName: string; KeyType: string }[];
  readonly AttributeDefinitions: { AttributeName: string; AttributeType: string }[];
  readonly GlobalSecondaryIndexes: {
    IndexName: string;
    KeySchema: { AttributeName: string; KeyType: string }[];
    Projection: { ProjectionType: string };
  }[];
  readonly BillingMode: string;
  readonly TimeToLiveAttribute: string;
  readonly StreamSpecification?: { StreamEnabled: boolean; StreamViewType: string };
}

export type ExpiredContactAction = 'deactivate' | 'delete';
export type EntraCleanupMode = 'off' | 'disable' | 'delete';

export interface TenantOptions {
  readonly architecture: 'arm64' | 'x86_64';
  /** IAM roles (same account) of the product's backend that may call the application API. */
  readonly productRoleArns: string[];
  readonly expirySchedule: string;
  readonly tokenRotationDays: number;
  /** A scheduled rotation does not retire a token used in the last this many days. */
  readonly tokenRetireAfterUnusedDays: number;
  /** Notify when the current token has not been used this many days after it was made. */
  readonly newTokenUnusedNotifyDays: number;
  /** Notify when a token in use is this many days old. */
  readonly tokenMaxAgeDays: number;
  readonly logRetentionDays: number;
  readonly expiredContactAction: ExpiredContactAction;
  readonly entraCleanupMode: EntraCleanupMode;
  /** Lifetime of the access tokens the token endpoint issues, in seconds (ACCESS_TOKEN_LIFETIME). */
  readonly accessTokenLifetime: number;
  /** Base URL of Microsoft's login service, whose JWKS verifies federated client assertions (ENTRA_LOGIN_URL). */
  readonly entraLoginUrl: string;
  /** E-mail address subscribed to the stack's alarm topic ('' : none; subscribe anything else to the topic). */
  readonly alarmEmail: string;
  /** Shift traffic to a function's new version with CodeDeploy (deploymentType), rolled back by its alarms. */
  readonly gradualDeployment: boolean;
  /** The CodeDeploy Lambda deployment configuration (CodeDeployDefault.Lambda<deploymentType>). */
  readonly deploymentType: DeploymentType;
  /** CloudFormation termination protection of the tenant's stack. */
  readonly terminationProtection: boolean;
  /** Custom domain of the SCIM API ('' : the execute-api URL); TenantUrl and TokenEndpoint use it. */
  readonly domainName: string;
  /** ACM certificate of domainName, in the tenant's region (required with domainName). */
  readonly certificateArn: string;
  /** Route 53 hosted zone of domainName ('' : create the DNS record yourself). */
  readonly hostedZoneId: string;
  /** Reserved concurrency of every function but expire-contacts (always 1); 0: none. */
  readonly reservedConcurrency: number;
  /** Where push-sets delivers the tenant's Security Event Tokens (RFC 8935); '' : nowhere. */
  readonly setReceiverUrl: string;
}

/** Same as template.yaml's DeploymentType AllowedValues. */
export const DEPLOYMENT_TYPES = [
  'Canary10Percent5Minutes',
  'Canary10Percent10Minutes',
  'Canary10Percent15Minutes',
  'Canary10Percent30Minutes',
  'Linear10PercentEvery1Minute',
  'Linear10PercentEvery2Minutes',
  'Linear10PercentEvery3Minutes',
  'Linear10PercentEvery10Minutes',
  'AllAtOnce',
] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];

export interface TenantDef {
  readonly id: string;
  readonly account: string;
  readonly region: string;
  readonly options: TenantOptions;
}

/** Same defaults as template.yaml's parameters. */
export const DEFAULT_OPTIONS: TenantOptions = {
  architecture: 'arm64',
  productRoleArns: [],
  expirySchedule: 'rate(15 minutes)',
  tokenRotationDays: 90,
  tokenRetireAfterUnusedDays: 14,
  newTokenUnusedNotifyDays: 7,
  tokenMaxAgeDays: 180,
  logRetentionDays: 90,
  expiredContactAction: 'deactivate',
  entraCleanupMode: 'off',
  accessTokenLifetime: 3600,
  entraLoginUrl: 'https://login.microsoftonline.com',
  alarmEmail: '',
  gradualDeployment: false,
  deploymentType: 'Canary10Percent5Minutes',
  terminationProtection: true,
  domainName: '',
  certificateArn: '',
  hostedZoneId: '',
  reservedConcurrency: 0,
  setReceiverUrl: '',
};

/** Same as template.yaml's DomainName, CertificateArn and HostedZoneId AllowedPatterns. */
export const DOMAIN_NAME = /^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
export const CERTIFICATE_ARN = /^$|^arn:aws(-[a-z]+)*:acm:[a-z0-9-]+:[0-9]{12}:certificate\/[A-Za-z0-9-]+$/;
export const HOSTED_ZONE_ID = /^$|^Z[A-Z0-9]{1,31}$/;

/** Same bounds as template.yaml's AccessTokenLifetime (Entra requires 1 to 6 hours). */
export const ACCESS_TOKEN_LIFETIME = { min: 3600, max: 21600 } as const;
/** Same as template.yaml's EntraLoginUrl AllowedPattern: an https origin, no path. */
export const ENTRA_LOGIN_URL = /^https:\/\/[^/]+$/;
/** Same as template.yaml's AlarmEmail AllowedPattern: empty, or one e-mail address. */
/** Same as template.yaml's SetReceiverUrl AllowedPattern. */
export const SET_RECEIVER_URL = /^$|^https:\/\/[^\s]+$/;
export const ALARM_EMAIL = /^$|^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/;

const KINDS: readonly string[] = ['http', 'rotation', 'schedule', 'stream', 'event'];
const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;
const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

// arn:<partition>:iam::<account>:role/<optional path/><name>
export const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/;
const SCIM_ROUTE = /^(GET|POST|PUT|PATCH|DELETE) \/scim\/v2\/\S+$/;
const APP_ROUTE = /^(GET|POST|PUT|PATCH|DELETE) \/app\/v1\/\S+$/;
/** The OAuth 2.0 token endpoint: on the SCIM API, but not a SCIM route (no bearer token). */
export const TOKEN_ROUTE = 'POST /oauth2/token';
/** A leadingKeys entry: the tenant's id and a partition suffix. */
const LEADING_KEY = /^\{tenant\}#[A-Za-z0-9]+$/;

/** The role name of an IAM role ARN (the last path segment; role names are unique per account). */
export function roleName(arn: string): string {
  const m = ROLE_ARN.exec(arn);
  if (!m) throw new Error(`not an IAM role ARN: ${arn}`);
  return m[4];
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`);
}

function stringList(file: string, where: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail(file, `${where} must be a list of strings`);
  }
  return value as string[];
}

function noWildcards(file: string, where: string, actions: string[], service: string): void {
  for (const a of actions) {
    if (a.includes('*') || !a.startsWith(`${service}:`)) {
      fail(file, `${where}: "${a}" is not an explicit ${service} action`);
    }
  }
}

export function loadFunctions(file: string): FunctionDef[] {
  const raw = readJson(file) as { functions?: unknown };
  if (!Array.isArray(raw.functions)) fail(file, '"functions" must be a list');
  const seen = new Set<string>();
  return raw.functions.map((f: Record<string, unknown>, i: number) => {
    const where = `functions[${i}]`;
    if (typeof f.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(f.name)) fail(file, `${where}.name is missing or invalid`);
    if (seen.has(f.name)) fail(file, `duplicate function ${f.name}`);
    seen.add(f.name);
    if (typeof f.kind !== 'string' || !KINDS.includes(f.kind)) fail(file, `${f.name}: kind must be one of ${KINDS.join(', ')}`);
    const routes = stringList(file, `${f.name}.routes`, f.routes ?? []);
    const def: FunctionDef = {
      name: f.name,
      kind: f.kind as FunctionKind,
      routes,
      timeoutSeconds: f.timeoutSeconds as number | undefined,
      api: apiOf(file, f.name, f.kind, routes),
      dynamodb: stringList(file, `${f.name}.dynamodb`, f.dynamodb ?? []),
      indexes: stringList(file, `${f.name}.indexes`, f.indexes ?? []),
      settingsItem: stringList(file, `${f.name}.settingsItem`, f.settingsItem ?? []),
      leadingKeys: stringList(file, `${f.name}.leadingKeys`, f.leadingKeys ?? []),
      environment:
        f.environment === undefined
          ? undefined
          : (stringList(file, `${f.name}.environment`, f.environment) as EnvironmentVariable[]),
      secretsmanager: stringList(file, `${f.name}.secretsmanager`, f.secretsmanager ?? []),
      signingSecret: stringList(file, `${f.name}.signingSecret`, f.signingSecret ?? []),
      events: stringList(file, `${f.name}.events`, f.events ?? []),
      sns: stringList(file, `${f.name}.sns`, f.sns ?? []),
      stream: stringList(file, `${f.name}.stream`, f.stream ?? []),
      streamMapping: f.streamMapping as StreamMapping | undefined,
      sqs: stringList(file, `${f.name}.sqs`, f.sqs ?? []),
      setSigningSecret: stringList(file, `${f.name}.setSigningSecret`, f.setSigningSecret ?? []),
      entraSecret: stringList(file, `${f.name}.entraSecret`, f.entraSecret ?? []),
      failureQueue: stringList(file, `${f.name}.failureQueue`, f.failureQueue ?? []),
      eventPattern: f.eventPattern as FunctionDef['eventPattern'],
      whenExpiredActionDelete: f.whenExpiredActionDelete as FunctionDef['whenExpiredActionDelete'],
    };
    if (def.timeoutSeconds !== undefined && !(Number.isInteger(def.timeoutSeconds) && def.timeoutSeconds >= 1 && def.timeoutSeconds <= 900)) {
      fail(file, `${f.name}: timeoutSeconds is a whole number of seconds, 1 to 900`);
    }
    noWildcards(file, `${f.name}.dynamodb`, def.dynamodb, 'dynamodb');
    noWildcards(file, `${f.name}.settingsItem`, def.settingsItem, 'dynamodb');
    noWildcards(file, `${f.name}.secretsmanager`, def.secretsmanager, 'secretsmanager');
    noWildcards(file, `${f.name}.signingSecret`, def.signingSecret, 'secretsmanager');
    for (const key of def.leadingKeys) {
      if (!LEADING_KEY.test(key)) fail(file, `${f.name}.leadingKeys: "${key}" is not {tenant}#<suffix>`);
    }
    if (def.leadingKeys.length > 0 && (def.dynamodb.length === 0 || def.indexes.length > 0)) {
      fail(file, `${f.name}: leadingKeys confine the function's dynamodb actions on the table (so it needs some, and no indexes)`);
    }
    if (def.signingSecret.length > 0 && def.api !== 'scim') fail(file, `${f.name}: only functions on the SCIM API read the signing key`);
    noWildcards(file, `${f.name}.events`, def.events, 'events');
    noWildcards(file, `${f.name}.stream`, def.stream, 'dynamodb');
    noWildcards(file, `${f.name}.sqs`, def.sqs, 'sqs');
    noWildcards(file, `${f.name}.entraSecret`, def.entraSecret, 'secretsmanager');
    noWildcards(file, `${f.name}.setSigningSecret`, def.setSigningSecret, 'secretsmanager');
    if (def.setSigningSecret.length > 0 && def.kind !== 'stream') fail(file, `${f.name}: only stream functions (publish-events, async-worker) sign SETs`);
    noWildcards(file, `${f.name}.failureQueue`, def.failureQueue, 'sqs');
    if ((def.kind === 'event') !== (def.eventPattern !== undefined)) {
      fail(file, `${f.name}: event functions, and only they, have an eventPattern`);
    }
    for (const [key, values] of Object.entries(def.eventPattern ?? {})) {
      stringList(file, `${f.name}.eventPattern.${key}`, values);
    }
    if ((def.kind === 'stream') !== def.stream.length > 0) fail(file, `${f.name}: stream functions, and only they, read the table's stream`);
    if ((def.kind === 'stream') !== (def.streamMapping !== undefined)) fail(file, `${f.name}: stream functions, and only they, have a streamMapping`);
    if (def.streamMapping) checkStreamMapping(file, f.name, def.streamMapping);
    if (def.kind === 'stream' && (def.failureQueue.length > 0) === (def.sqs.length > 0)) {
      fail(file, `${f.name}: a stream function sends failed records to its own queue (failureQueue) or to the change events' queue (sqs), one of them`);
    }
    if (def.whenExpiredActionDelete) {
      noWildcards(file, `${f.name}.whenExpiredActionDelete`, def.whenExpiredActionDelete.dynamodb, 'dynamodb');
    }
    if ((def.kind === 'http') !== def.routes.length > 0) fail(file, `${f.name}: http functions, and only they, have routes`);
    // SCIM functions record the caller; the rotation function reads each token's last use.
    const readsUsage = def.kind === 'rotation' && def.settingsItem.every((a) => a === 'dynamodb:GetItem');
    if (def.settingsItem.length > 0 && !readsUsage && (def.api !== 'scim' || def.routes.includes(TOKEN_ROUTE))) {
      fail(file, `${f.name}: only SCIM functions (and the rotation function, GetItem) have settingsItem actions`);
    }
    noWildcards(file, `${f.name}.sns`, def.sns, 'sns');
    if (def.sns.length > 0 && def.kind !== 'schedule') fail(file, `${f.name}: only the schedule function publishes to the alarm topic`);
    if (def.environment) {
      for (const v of def.environment) {
        if (!(ENVIRONMENT_VARIABLES as readonly string[]).includes(v)) fail(file, `${f.name}: unknown environment variable ${v}`);
      }
      if (def.environment.includes('TOKEN_SECRET_ARN') !== def.secretsmanager.length > 0) {
        fail(file, `${f.name}: TOKEN_SECRET_ARN in the environment if and only if the function has secretsmanager actions`);
      }
      if (def.environment.includes('SIGNING_SECRET_ARN') !== def.signingSecret.length > 0) {
        fail(file, `${f.name}: SIGNING_SECRET_ARN in the environment if and only if the function has signingSecret actions`);
      }
      if (def.environment.includes('SET_SIGNING_SECRET_ARN') !== def.setSigningSecret.length > 0) {
        fail(file, `${f.name}: SET_SIGNING_SECRET_ARN in the environment if and only if the function has setSigningSecret actions`);
      }
    }
    return def;
  });
}

function checkStreamMapping(file: string, name: string, m: StreamMapping): void {
  const where = `${name}.streamMapping`;
  if (typeof m !== 'object' || m === null) fail(file, `${where} must be an object`);
  if (typeof m.records !== 'string' || !/^[A-Z][A-Za-z0-9]+$/.test(m.records)) fail(file, `${where}.records must be a PascalCase name`);
  if (typeof m.filter !== 'object' || m.filter === null || Array.isArray(m.filter)) fail(file, `${where}.filter must be a pattern object`);
  // Lambda's bounds for a DynamoDB stream mapping (a record older than the stream's 24 h is gone anyway).
  const bounds: [keyof StreamMapping, number, number][] = [
    ['batchSize', 1, 10000],
    ['maximumRetryAttempts', 0, 10000],
    ['maximumRecordAgeInSeconds', 60, 604800],
  ];
  for (const [key, min, max] of bounds) {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(file, `${where}.${key} must be an integer from ${min} to ${max}`);
  }
}

/** The API of an http function's routes; every route of a function is on the same one. */
function apiOf(file: string, name: string, kind: unknown, routes: string[]): ApiKind | undefined {
  if (kind !== 'http' || routes.length === 0) return undefined;
  const apis = new Set<ApiKind>();
  for (const r of routes) {
    if (r === '$default' || r === TOKEN_ROUTE || SCIM_ROUTE.test(r)) apis.add('scim');
    else if (APP_ROUTE.test(r)) apis.add('app');
    else fail(file, `${name}: bad route "${r}" (routes are under /scim/v2 or /app/v1, or ${TOKEN_ROUTE})`);
  }
  if (apis.size !== 1) fail(file, `${name}: a function's routes are all under /scim/v2 or all under /app/v1`);
  if (routes.includes(TOKEN_ROUTE) && routes.length !== 1) fail(file, `${name}: the token endpoint's function serves no other route`);
  return [...apis][0];
}

export function loadTable(file: string, functions: FunctionDef[]): TableDef {
  const table = readJson(file) as TableDef;
  if (!Array.isArray(table.KeySchema) || !Array.isArray(table.GlobalSecondaryIndexes) || !table.TimeToLiveAttribute) {
    fail(file, 'KeySchema, GlobalSecondaryIndexes and TimeToLiveAttribute are required');
  }
  const indexes = new Set(table.GlobalSecondaryIndexes.map((g) => g.IndexName));
  for (const f of functions) {
    for (const i of [...f.indexes, ...(f.whenExpiredActionDelete?.indexes ?? [])]) {
      if (!indexes.has(i)) fail(file, `function ${f.name} uses index ${i}, which the table does not define`);
    }
    if (f.stream.length > 0 && !table.StreamSpecification?.StreamEnabled) {
      fail(file, `function ${f.name} reads the table's stream, which the table does not enable`);
    }
  }
  return table;
}

export function loadTenants(file: string): TenantDef[] {
  const raw = readJson(file) as { tenants?: unknown };
  if (!Array.isArray(raw.tenants) || raw.tenants.length === 0) fail(file, '"tenants" must be a non-empty list');
  const seen = new Set<string>();
  return raw.tenants.map((t: Record<string, unknown>, i: number) => {
    const where = `tenants[${i}]`;
    if (typeof t.id !== 'string' || !TENANT_ID.test(t.id)) fail(file, `${where}.id must match ${TENANT_ID}`);
    if (seen.has(t.id)) fail(file, `duplicate tenant ${t.id}`);
    seen.add(t.id);
    if (typeof t.account !== 'string' || !ACCOUNT.test(t.account)) fail(file, `${t.id}: account must be 12 digits`);
    if (typeof t.region !== 'string' || !REGION.test(t.region)) fail(file, `${t.id}: region is invalid`);
    const options: TenantOptions = { ...DEFAULT_OPTIONS, ...((t.options as Partial<TenantOptions>) ?? {}) };
    for (const key of Object.keys(options)) {
      if (!(key in DEFAULT_OPTIONS)) fail(file, `${t.id}: unknown option "${key}"`);
    }
    if (!['arm64', 'x86_64'].includes(options.architecture)) fail(file, `${t.id}: architecture must be arm64 or x86_64`);
    if (!['deactivate', 'delete'].includes(options.expiredContactAction)) {
      fail(file, `${t.id}: expiredContactAction must be deactivate or delete`);
    }
    if (!['off', 'disable', 'delete'].includes(options.entraCleanupMode)) {
      fail(file, `${t.id}: entraCleanupMode must be off, disable or delete`);
    }
    for (const key of ['tokenRotationDays', 'tokenRetireAfterUnusedDays', 'newTokenUnusedNotifyDays', 'tokenMaxAgeDays'] as const) {
      const days = options[key];
      if (!Number.isInteger(days) || days < 1 || days > 1000) fail(file, `${t.id}: ${key} must be an integer from 1 to 1000`);
    }
    if (!RETENTION_DAYS.includes(options.logRetentionDays)) {
      fail(file, `${t.id}: logRetentionDays must be one of ${RETENTION_DAYS.join(', ')}`);
    }
    if (!/^(rate|cron)\(.+\)$/.test(options.expirySchedule)) fail(file, `${t.id}: expirySchedule must be rate(...) or cron(...)`);
    const lifetime = options.accessTokenLifetime;
    if (!Number.isInteger(lifetime) || lifetime < ACCESS_TOKEN_LIFETIME.min || lifetime > ACCESS_TOKEN_LIFETIME.max) {
      fail(file, `${t.id}: accessTokenLifetime must be an integer from ${ACCESS_TOKEN_LIFETIME.min} to ${ACCESS_TOKEN_LIFETIME.max} (seconds)`);
    }
    if (typeof options.entraLoginUrl !== 'string' || !ENTRA_LOGIN_URL.test(options.entraLoginUrl)) {
      fail(file, `${t.id}: entraLoginUrl must match ${ENTRA_LOGIN_URL} (https://<host>, no path)`);
    }
    if (typeof options.setReceiverUrl !== 'string' || !SET_RECEIVER_URL.test(options.setReceiverUrl)) {
      fail(file, `${t.id}: setReceiverUrl must be empty or an https:// URL`);
    }
    if (typeof options.alarmEmail !== 'string' || !ALARM_EMAIL.test(options.alarmEmail)) {
      fail(file, `${t.id}: alarmEmail must be empty or an e-mail address (${ALARM_EMAIL})`);
    }
    for (const key of ['gradualDeployment', 'terminationProtection'] as const) {
      if (typeof options[key] !== 'boolean') fail(file, `${t.id}: ${key} must be true or false`);
    }
    if (!(DEPLOYMENT_TYPES as readonly string[]).includes(options.deploymentType)) {
      fail(file, `${t.id}: deploymentType must be one of ${DEPLOYMENT_TYPES.join(', ')}`);
    }
    for (const [key, pattern] of [['domainName', DOMAIN_NAME], ['certificateArn', CERTIFICATE_ARN], ['hostedZoneId', HOSTED_ZONE_ID]] as const) {
      if (typeof options[key] !== 'string' || !pattern.test(options[key])) fail(file, `${t.id}: ${key} must match ${pattern}`);
    }
    const rc = options.reservedConcurrency;
    if (!Number.isInteger(rc) || rc < 0 || rc > 1000) fail(file, `${t.id}: reservedConcurrency must be an integer from 0 (none) to 1000`);
    // Same as template.yaml's Rules.
    if (options.domainName !== '' && options.certificateArn === '') fail(file, `${t.id}: domainName needs certificateArn`);
    if (options.hostedZoneId !== '' && options.domainName === '') fail(file, `${t.id}: hostedZoneId needs domainName`);
    if (options.certificateArn !== '' && options.certificateArn.split(':')[3] !== t.region) {
      fail(file, `${t.id}: certificateArn must be in the tenant's region ${t.region} (a regional API)`);
    }
    stringList(file, `${t.id}.productRoleArns`, options.productRoleArns);
    for (const arn of options.productRoleArns) {
      const m = ROLE_ARN.exec(arn);
      if (!m) fail(file, `${t.id}: productRoleArns: "${arn}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
      // The policy is attached by role name, which only names a role in the stack's own account.
      if (m[2] !== t.account) fail(file, `${t.id}: productRoleArns: "${arn}" is not in the tenant's account ${t.account}`);
    }
    if (new Set(options.productRoleArns.map(roleName)).size !== options.productRoleArns.length) {
      fail(file, `${t.id}: productRoleArns names a role twice`);
    }
    return { id: t.id, account: t.account, region: t.region, options };
  });
}
