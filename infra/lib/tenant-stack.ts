// One customer tenant's SCIM endpoint: the same resources and IAM policies as
// template.yaml, built from infra/functions.json and shared/table.json.
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, StackProps, Tags } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as sns from 'aws-cdk-lib/aws-sns';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms, metricNamespace, UNAUTHORIZED_FILTER_PATTERN, UNAUTHORIZED_METRIC } from './alarms';
import { AssetMode, rustLambda } from './code';
import {
  ASYNC_REQUESTS,
  environmentVariables,
  EnvironmentVariable,
  FunctionDef,
  isScimFunction,
  roleName,
  TableDef,
  TenantDef,
  TOKEN_ROUTE,
} from './definitions';

export interface TenantStackProps extends StackProps {
  readonly tenant: TenantDef;
  readonly functions: FunctionDef[];
  readonly table: TableDef;
  readonly assetMode: AssetMode;
  /** The build's version: the Version output and the scim:version tag. */
  readonly version: string;
}

/** Every function is published behind this alias, and invoked through it (but by Secrets
 * Manager, which calls rotate-token by its unqualified ARN). */
export const ALIAS = 'live';

// Entra ID's provisioning service sends at most ~25 requests/s per tenant; Okta pushes
// changes as they happen and bursts during bulk assignments and imports. Each route gets
// 100 requests/s steady with bursts of 200 (4x Entra's rate), far below the regional
// API Gateway account quota that all tenant stacks in an account share.
export const THROTTLE = { rateLimit: 100, burstLimit: 200 };

// JSON access log without any header (so never the Authorization header).
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  userAgent: '$context.identity.userAgent',
  error: '$context.error.message',
  integrationError: '$context.integrationErrorMessage',
});

// The application API's access log also names the IAM principal that signed the request
// (the product's role; never a header, so never the signature).
export const APP_ACCESS_LOG_FORMAT = JSON.stringify({
  ...JSON.parse(ACCESS_LOG_FORMAT),
  caller: '$context.identity.userArn',
});

/** The partition key of the tenant's settings item: the one item every SCIM function may update. */
export const settingsPartition = (tenant: string) => `${tenant}#S`;

/** A functions.json leadingKeys entry ("{tenant}#O") for this stack's tenant. */
export const leadingKey = (tenant: string, key: string) => key.replace('{tenant}', tenant);

/** What the product's roles may invoke: every method of every /app/v1 route, no other path. */
export const APP_INVOKE_PATH = '*/*/app/v1/*';

const TIMEOUT_SECONDS: Record<FunctionDef['kind'], number> = { http: 10, rotation: 30, schedule: 300, stream: 60, event: 60 };

// Event functions (entra-guest-cleanup; same values as template.yaml): EventBridge retries a
// delivery it cannot make (e.g. Lambda throttled) for up to 6 hours, Lambda retries a failed
// invocation twice; what is still undelivered or failing lands in the function's queue.
export const EVENT_DELIVERY = { maximumRetryAttempts: 16, maximumEventAgeInSeconds: 21600 };
export const EVENT_INVOKE = { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21600 };

// The schedule function (expire-contacts; same values as template.yaml): EventBridge retries
// an invocation it cannot make for up to an hour, Lambda retries a failed run twice, and what
// still fails lands in the function's queue. A run older than an hour is not worth making: the
// next scheduled one does the same work. Reserved concurrency 1: runs never overlap (a retry
// or a late run waits in Lambda's queue for the one before it).
export const SCHEDULE_DELIVERY = { maximumRetryAttempts: 8, maximumEventAgeInSeconds: 3600 };
export const SCHEDULE_INVOKE = { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 };
export const SCHEDULE_CONCURRENCY = 1;

/** PascalCase construct ids, matching template.yaml's logical ids (users-create -> UsersCreate). */
function pascal(name: string): string {
  return name
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

/** shared/table.json is CloudFormation-shaped (PascalCase); L1 props are camelCase. */
function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), camelKeys(v)]),
    );
  }
  return value;
}

export class TenantStack extends Stack {
  constructor(scope: Construct, id: string, props: TenantStackProps) {
    super(scope, id, props);
    const { tenant, functions, table: tableDef, assetMode, version } = props;
    const opts = tenant.options;
    Tags.of(this).add('scim:tenant', tenant.id);
    Tags.of(this).add('scim:version', version);

    // ------------------------------------------------------------ alarms reach someone
    // One topic per tenant stack; every alarm (see ./alarms.ts) publishes to it. Not encrypted:
    // CloudWatch can publish to an SSE topic only with a customer managed key, and an alarm
    // carries no secret (names, thresholds, values).
    const alarmTopic = new sns.CfnTopic(this, 'AlarmTopic', {
      topicName: `scim-${tenant.id}-alarms`,
      displayName: `SCIM ${tenant.id} alarms`,
    });
    if (opts.alarmEmail !== '') {
      new sns.CfnSubscription(this, 'AlarmEmailSubscription', {
        topicArn: alarmTopic.ref,
        protocol: 'email',
        endpoint: opts.alarmEmail,
      });
    }
    const alarms = new Alarms(this, tenant.id, alarmTopic);

    // ------------------------------------------------------------ storage
    const table = new dynamodb.CfnTable(this, 'Table', {
      keySchema: camelKeys(tableDef.KeySchema) as dynamodb.CfnTable.KeySchemaProperty[],
      attributeDefinitions: camelKeys(tableDef.AttributeDefinitions) as dynamodb.CfnTable.AttributeDefinitionProperty[],
      globalSecondaryIndexes: camelKeys(tableDef.GlobalSecondaryIndexes) as dynamodb.CfnTable.GlobalSecondaryIndexProperty[],
      billingMode: tableDef.BillingMode,
      deletionProtectionEnabled: true,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveSpecification: { attributeName: tableDef.TimeToLiveAttribute, enabled: true },
      streamSpecification: tableDef.StreamSpecification?.StreamEnabled
        ? { streamViewType: tableDef.StreamSpecification.StreamViewType }
        : undefined,
    });
    table.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const tableArn = table.attrArn;
    const indexArn = (index: string) => `${tableArn}/index/${index}`;

    // ------------------------------------------------------------ bearer token
    const secret = new secretsmanager.Secret(this, 'TokenSecret', {
      secretName: `scim/${tenant.id}/bearer-token`,
      description: `SCIM bearer token for tenant ${tenant.id} (the Secret Token pasted into Entra/Okta)`,
      // {"tenant": "<id>", "token": "<64 random characters>"}: the token is bound to its tenant.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ tenant: tenant.id }),
        generateStringKey: 'token',
        passwordLength: 64,
        excludePunctuation: true,
      },
    });

    // ------------------------------------------------------------ access-token signing key
    // The key oauth-token signs access tokens with and every SCIM function verifies them with:
    // {"key": "<64 random characters>"} at creation. No rotation schedule: `scim-admin oauth
    // rotate-key` rotates it and keeps the previous key for the longest token lifetime.
    const signingSecret = new secretsmanager.Secret(this, 'SigningKeySecret', {
      secretName: `scim/${tenant.id}/signing-key`,
      description: `Key signing the OAuth 2.0 access tokens of tenant ${tenant.id} (rotated with scim-admin oauth rotate-key)`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'key',
        passwordLength: 64,
        excludePunctuation: true,
      },
    });

    // ------------------------------------------------------------ SET signing key
    // The key publish-events signs the RFC 9967 Security Event Tokens with (HS256): its own
    // secret, same shape as the access-token key; a receiver is given it to verify SETs.
    const setSigningSecret = new secretsmanager.Secret(this, 'SetSigningKeySecret', {
      secretName: `scim/${tenant.id}/set-signing-key`,
      description: `Key signing the Security Event Tokens (RFC 9967) of tenant ${tenant.id}`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'key',
        passwordLength: 64,
        excludePunctuation: true,
      },
    });

    // ------------------------------------------------------------ change events
    const bus = new events.EventBus(this, 'EventBus', { eventBusName: `scim-${tenant.id}` });
    // Stream batches publish-events could not publish after the mapping's retries.
    const deadLetters = new sqs.Queue(this, 'EventsDeadLetterQueue', {
      queueName: `scim-${tenant.id}-change-events-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    alarms.forQueue('EventsDeadLetterQueueAlarm', deadLetters.queueName, 'change-events-dlq',
      'Change events could not be published: stream batches are in the dead-letter queue');

    // ------------------------------------------------------------ Entra guest cleanup
    // Created empty (L1: the L2 Secret would generate a value): the operator stores the
    // customer's app registration {"tenantId","clientId","clientSecret"} in it (README,
    // "Closing contacts in Entra ID"). Only entra-guest-cleanup may read it.
    const entraSecret = new secretsmanager.CfnSecret(this, 'EntraCredentialsSecret', {
      name: `scim/${tenant.id}/entra-credentials`,
      description: `Entra ID app registration (tenantId, clientId, clientSecret) with which entra-guest-cleanup closes expired guests of tenant ${tenant.id}`,
    });

    // ------------------------------------------------------------ HTTP API
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogGroup', {
      logGroupName: `/scim/${tenant.id}/api-access`,
      retention: opts.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const api = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `scim-${tenant.id}`,
      description: `SCIM 2.0 endpoint for tenant ${tenant.id}`,
      createDefaultStage: false,
    });
    const scimStage = new apigwv2.HttpStage(this, 'HttpApiDefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });

    // ------------------------------------------------------------ application API
    // The product's API (/app/v1) is a second HTTP API, every route AWS_IAM. Its own API
    // (not routes on the SCIM API) because the app functions' TENANT_URL names the SCIM API:
    // in template.yaml a function on an API that it also references is a circular dependency
    // (SAM's API body references the function). No credential of one API opens the other.
    const appAccessLogs = new logs.LogGroup(this, 'ApplicationApiAccessLogGroup', {
      logGroupName: `/scim/${tenant.id}/app-api-access`,
      retention: opts.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const appApi = new apigwv2.HttpApi(this, 'ApplicationApi', {
      apiName: `scim-${tenant.id}-app`,
      description: `Application API (IAM-authorized) of the SCIM service for tenant ${tenant.id}`,
      createDefaultStage: false,
    });
    new apigwv2.HttpStage(this, 'ApplicationApiDefaultStage', {
      httpApi: appApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(appAccessLogs),
        format: apigw.AccessLogFormat.custom(APP_ACCESS_LOG_FORMAT),
      },
    });
    const iamAuthorizer = new HttpIamAuthorizer();
    // The URL that survives the stack: with domainName, the IdP holds https://<domainName>/scim/v2,
    // and a new API (a replaced or re-created stack) only needs the mapping to move.
    let domain: apigwv2.CfnDomainName | undefined;
    if (opts.domainName !== '') {
      domain = new apigwv2.CfnDomainName(this, 'ApiDomainName', {
        domainName: opts.domainName,
        domainNameConfigurations: [{ certificateArn: opts.certificateArn, endpointType: 'REGIONAL', securityPolicy: 'TLS_1_2' }],
      });
      const mapping = new apigwv2.CfnApiMapping(this, 'ApiMapping', { domainName: domain.ref, apiId: api.apiId, stage: scimStage.stageName });
      mapping.node.addDependency(scimStage);
      if (opts.hostedZoneId !== '') {
        new route53.CfnRecordSet(this, 'ApiDnsRecord', {
          hostedZoneId: opts.hostedZoneId,
          name: opts.domainName,
          type: 'A',
          aliasTarget: { dnsName: domain.attrRegionalDomainName, hostedZoneId: domain.attrRegionalHostedZoneId },
        });
      }
    }
    const scimBase = domain ? `https://${opts.domainName}` : api.apiEndpoint;
    const tenantUrl = `${scimBase}/scim/v2`;
    // The OAuth 2.0 token endpoint: on the SCIM API, beside /scim/v2 (same host as TenantUrl).
    const tokenEndpoint = `${scimBase}${TOKEN_ROUTE.split(' ')[1]}`;

    // ------------------------------------------------------------ functions
    const architecture = opts.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    const variables: Record<EnvironmentVariable, string> = {
      TABLE_NAME: table.ref,
      TENANT_ID: tenant.id,
      TOKEN_SECRET_ARN: secret.secretArn,
      SIGNING_SECRET_ARN: signingSecret.secretArn,
      TENANT_URL: tenantUrl,
      TOKEN_ENDPOINT: tokenEndpoint,
      ACCESS_TOKEN_LIFETIME: String(opts.accessTokenLifetime),
      ENTRA_LOGIN_URL: opts.entraLoginUrl,
      EVENT_BUS_NAME: bus.eventBusName,
      RUST_LOG: 'info',
      SET_RECEIVER_URL: opts.setReceiverUrl,
      SET_SIGNING_SECRET_ARN: setSigningSecret.secretArn,
      SET_AUDIENCE: bus.eventBusArn,
    };
    const deleteExpired = opts.expiredContactAction === 'delete';

    const environmentOf = (def: FunctionDef): Record<string, string> => {
      const environment = Object.fromEntries(environmentVariables(def).map((v) => [v, variables[v]]));
      switch (def.kind) {
        case 'schedule':
          // After its sweep, the job checks the bearer tokens (token notices, shared/aws/src/tokens/watch.rs).
          return {
            ...environment,
            EXPIRED_ACTION: opts.expiredContactAction,
            ALARM_TOPIC_ARN: alarmTopic.ref,
            NEW_TOKEN_UNUSED_NOTIFY_DAYS: String(opts.newTokenUnusedNotifyDays),
            TOKEN_MAX_AGE_DAYS: String(opts.tokenMaxAgeDays),
            TOKEN_RETIRE_AFTER_UNUSED_DAYS: String(opts.tokenRetireAfterUnusedDays),
          };
        case 'rotation':
          return { ...environment, TOKEN_RETIRE_AFTER_UNUSED_DAYS: String(opts.tokenRetireAfterUnusedDays) };
        case 'event':
          // entra-guest-cleanup: its mode and credentials; push-sets has its own list.
          return def.entraSecret.length > 0
            ? { ...environment, ENTRA_CLEANUP_MODE: opts.entraCleanupMode, ENTRA_CREDENTIALS_SECRET_ARN: entraSecret.ref }
            : environment;
        case 'stream':
          // The SETs' issuer (the Tenant URL), key and audience (the tenant's bus); async-worker
          // lists them in its own environment.
          return def.environment
            ? environment
            : {
                ...environment,
                TENANT_URL: variables.TENANT_URL,
                SET_SIGNING_SECRET_ARN: variables.SET_SIGNING_SECRET_ARN,
                SET_AUDIENCE: variables.SET_AUDIENCE,
              };
        case 'http':
          // Prefer: respond-async is accepted (a job item async-worker runs) by the SCIM functions.
          return isScimFunction(def) ? { ...environment, ASYNC_REQUESTS } : environment;
        default:
          return environment;
      }
    };

    // Per function: its alias and the alarms that roll a gradual deployment of it back.
    const published: { P: string; alias: lambda.Alias; alarms: cloudwatch.CfnAlarm[] }[] = [];
    for (const def of functions) {
      const P = pascal(def.name);
      // Event and schedule functions: undeliverable events and invocations that still fail.
      const failures =
        def.failureQueue.length > 0
          ? new sqs.Queue(this, `${P}DeadLetterQueue`, {
              queueName: `scim-${tenant.id}-${def.name}-dlq`,
              retentionPeriod: Duration.days(14),
              encryption: sqs.QueueEncryption.SQS_MANAGED,
            })
          : undefined;
      if (failures) {
        alarms.forQueue(`${P}DeadLetterQueueAlarm`, failures.queueName, `${def.name}-dlq`,
          def.kind === 'stream'
            ? `${def.name}: stream records it still failed on after the retries are in its dead-letter queue`
            : `${def.name}: events that could not be delivered, or invocations that failed after the retries, are in its dead-letter queue`);
      }
      const logGroup = new logs.LogGroup(this, `${P}LogGroup`, {
        logGroupName: `/scim/${tenant.id}/${def.name}`,
        retention: opts.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });

      // Exactly the actions functions.json lists, on exactly this stack's resources.
      const statements = [
        new iam.PolicyStatement({
          sid: 'Logs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      ];
      if (def.dynamodb.length > 0 && def.leadingKeys.length > 0) {
        // oauth-token: its own partition ({tenant}#O) only (loadFunctions refuses indexes here).
        statements.push(
          new iam.PolicyStatement({
            sid: 'Table',
            actions: def.dynamodb,
            resources: [tableArn],
            conditions: {
              'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': def.leadingKeys.map((k) => leadingKey(tenant.id, k)) },
            },
          }),
        );
      } else if (def.dynamodb.length > 0) {
        statements.push(
          new iam.PolicyStatement({ sid: 'Table', actions: def.dynamodb, resources: [tableArn, ...def.indexes.map(indexArn)] }),
        );
      }
      if (def.settingsItem.length > 0) {
        // The once-a-minute "last called" write of a SCIM function: its tenant's settings item only.
        statements.push(
          new iam.PolicyStatement({
            sid: 'SettingsItem',
            actions: def.settingsItem,
            resources: [tableArn],
            conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [settingsPartition(tenant.id)] } },
          }),
        );
      }
      if (def.secretsmanager.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'TokenSecret', actions: def.secretsmanager, resources: [secret.secretArn] }));
      }
      if (def.signingSecret.length > 0) {
        statements.push(
          new iam.PolicyStatement({ sid: 'SigningSecret', actions: def.signingSecret, resources: [signingSecret.secretArn] }),
        );
      }
      if (def.stream.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'TableStream', actions: def.stream, resources: [table.attrStreamArn] }));
      }
      if (def.events.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'ChangeEvents', actions: def.events, resources: [bus.eventBusArn] }));
      }
      if (def.sns.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'AlarmTopic', actions: def.sns, resources: [alarmTopic.ref] }));
      }
      if (def.sqs.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'DeadLetterQueue', actions: def.sqs, resources: [deadLetters.queueArn] }));
      }
      if (def.setSigningSecret.length > 0) {
        statements.push(
          new iam.PolicyStatement({ sid: 'SetSigningSecret', actions: def.setSigningSecret, resources: [setSigningSecret.secretArn] }),
        );
      }
      if (def.entraSecret.length > 0) {
        statements.push(new iam.PolicyStatement({ sid: 'EntraCredentials', actions: def.entraSecret, resources: [entraSecret.ref] }));
      }
      if (def.failureQueue.length > 0 && failures) {
        statements.push(new iam.PolicyStatement({ sid: 'FailureQueue', actions: def.failureQueue, resources: [failures.queueArn] }));
      }
      if (deleteExpired && def.whenExpiredActionDelete) {
        const extra = def.whenExpiredActionDelete;
        statements.push(
          new iam.PolicyStatement({
            sid: 'TableDeleteExpired',
            actions: extra.dynamodb,
            resources: [tableArn, ...extra.indexes.map(indexArn)],
          }),
        );
      }
      const role = new iam.Role(this, `${P}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: { [def.name]: new iam.PolicyDocument({ statements }) },
      });

      const fn = rustLambda(this, `${P}Function`, assetMode, {
        binary: def.name,
        architecture,
        description: describe(def),
        role,
        logGroup,
        memorySize: 256,
        timeout: Duration.seconds(def.timeoutSeconds ?? TIMEOUT_SECONDS[def.kind]),
        environment: environmentOf(def),
        // expire-contacts: always 1. The others: the tenant's cap, if any (template.yaml's Globals).
        reservedConcurrentExecutions:
          def.kind === 'schedule' ? SCHEDULE_CONCURRENCY : opts.reservedConcurrency > 0 ? opts.reservedConcurrency : undefined,
      });
      Tags.of(fn).add('scim:function', def.name);
      const rollback = alarms.forFunction(P, def.name, fn.functionName, def.timeoutSeconds ?? TIMEOUT_SECONDS[def.kind]);
      // Published as a version behind the alias; everything but Secrets Manager invokes the alias.
      const alias = new lambda.Alias(this, `${P}Alias`, { aliasName: ALIAS, version: fn.currentVersion });
      published.push({ P, alias, alarms: rollback });

      if (def.kind === 'http') {
        const integration = new HttpLambdaIntegration(`${P}Integration`, alias);
        // SCIM routes: no authorizer (the function checks the bearer token). App routes: AWS_IAM.
        const app = def.api === 'app';
        for (const route of def.routes) {
          const routeKey =
            route === '$default'
              ? apigwv2.HttpRouteKey.DEFAULT
              : apigwv2.HttpRouteKey.with(route.split(' ')[1], route.split(' ')[0] as apigwv2.HttpMethod);
          new apigwv2.HttpRoute(this, `${P}Route${routeId(route)}`, {
            httpApi: app ? appApi : api,
            routeKey,
            integration,
            authorizer: app ? iamAuthorizer : undefined,
          });
        }
      } else if (def.kind === 'schedule' && failures) {
        // L1 on purpose, as for event functions: mirrors template.yaml resource for resource.
        const rule = new events.CfnRule(this, `${P}Schedule`, {
          description: `Expire contacts of tenant ${tenant.id}`,
          scheduleExpression: opts.expirySchedule,
          state: 'ENABLED',
          targets: [
            {
              id: def.name,
              arn: alias.functionArn,
              retryPolicy: SCHEDULE_DELIVERY,
              deadLetterConfig: { arn: failures.queueArn },
            },
          ],
        });
        this.failureTargets(P, alias, rule, failures, SCHEDULE_INVOKE);
        alarms.forRule(`${P}ScheduleFailuresAlarm`, `${def.name}-schedule`, rule.ref, undefined,
          `${def.name}: the schedule could not run the job (see its dead-letter queue)`);
      } else if (def.kind === 'stream' && def.streamMapping) {
        // functions.json's streamMapping (same values as template.yaml): only the records its
        // filter names (publish-events: inserted audit records; async-worker: inserted job
        // items; TTL deletions are REMOVEs), partial batch failures reported, failing batches
        // bisected, retries and record age bounded, then a dead-letter queue. L1 on purpose:
        // the L2 DynamoEventSource would add its own grants to the role.
        const m = def.streamMapping;
        new lambda.CfnEventSourceMapping(this, `${P}${m.records}`, {
          functionName: alias.functionArn,
          eventSourceArn: table.attrStreamArn,
          startingPosition: 'TRIM_HORIZON',
          batchSize: m.batchSize,
          filterCriteria: { filters: [{ pattern: JSON.stringify(m.filter) }] },
          functionResponseTypes: ['ReportBatchItemFailures'],
          bisectBatchOnFunctionError: true,
          maximumRetryAttempts: m.maximumRetryAttempts,
          maximumRecordAgeInSeconds: m.maximumRecordAgeInSeconds,
          // Its own queue (async-worker), else the change events' (publish-events).
          destinationConfig: { onFailure: { destination: (failures ?? deadLetters).queueArn } },
        });
        alarms.forIteratorAge(`${P}IteratorAgeAlarm`, def.name, fn.functionName, m.maximumRecordAgeInSeconds);
      } else if (def.kind === 'event' && failures) {
        // L1 on purpose: the pattern is functions.json's, verbatim; the L2 target would
        // also do, but this mirrors template.yaml resource for resource.
        const rule = new events.CfnRule(this, `${P}Rule`, {
          description: `${def.name}: ${JSON.stringify(def.eventPattern)} on the bus of tenant ${tenant.id}`,
          eventBusName: bus.eventBusName,
          eventPattern: def.eventPattern,
          state: 'ENABLED',
          targets: [
            {
              id: def.name,
              arn: alias.functionArn,
              retryPolicy: EVENT_DELIVERY,
              deadLetterConfig: { arn: failures.queueArn },
            },
          ],
        });
        this.failureTargets(P, alias, rule, failures, EVENT_INVOKE);
        alarms.forRule(`${P}RuleFailuresAlarm`, `${def.name}-rule`, rule.ref, bus.eventBusName,
          `${def.name}: change events could not be delivered to it (see its dead-letter queue)`);
      } else {
        // L1 on purpose: the L2 addRotationSchedule() would add its own grants to the
        // function's role (including secretsmanager:GetRandomPassword on *).
        const permission = new lambda.CfnPermission(this, 'RotateTokenInvokePermission', {
          action: 'lambda:InvokeFunction',
          functionName: fn.functionArn,
          principal: 'secretsmanager.amazonaws.com',
          sourceArn: secret.secretArn,
        });
        const schedule = new secretsmanager.CfnRotationSchedule(this, 'TokenRotationSchedule', {
          secretId: secret.secretArn,
          rotationLambdaArn: fn.functionArn,
          rotateImmediatelyOnUpdate: false,
          rotationRules: { automaticallyAfterDays: opts.tokenRotationDays },
        });
        schedule.node.addDependency(permission);
      }
    }

    // ------------------------------------------------------------ API and table alarms
    const api5xx = alarms.forApi('HttpApi5xxAlarm', 'api', api.apiId, 'SCIM API');
    const appApi5xx = alarms.forApi('ApplicationApi5xxAlarm', 'app-api', appApi.apiId, 'Application API');
    // 401s: API Gateway's 4xx metric also counts the 404s and 409s Entra causes in every
    // cycle, so the SCIM API's access log is filtered for status 401.
    new logs.CfnMetricFilter(this, 'UnauthorizedMetricFilter', {
      logGroupName: accessLogs.logGroupName,
      filterPattern: UNAUTHORIZED_FILTER_PATTERN,
      metricTransformations: [
        { metricNamespace: metricNamespace(tenant.id), metricName: UNAUTHORIZED_METRIC, metricValue: '1', defaultValue: 0 },
      ],
    });
    alarms.forUnauthorized('HttpApiUnauthorizedAlarm', api.apiId);
    const tableAlarms = alarms.forTable(table.ref);

    // ------------------------------------------------------------ gradual deployment
    // Off by default (gradualDeployment): the alias moves to a new version at once. On: CodeDeploy
    // shifts traffic (deploymentType) and rolls back when the function's errors or duration
    // alarm, either API's 5xx alarm or the table's system-errors alarm fires (as template.yaml's
    // DeploymentPreference: Globals' alarms, then the function's own).
    if (opts.gradualDeployment) {
      const application = new codedeploy.LambdaApplication(this, 'DeploymentApplication', {
        applicationName: `scim-${tenant.id}`,
      });
      const config = codedeploy.LambdaDeploymentConfig.fromLambdaDeploymentConfigName(
        this,
        'DeploymentConfig',
        `CodeDeployDefault.Lambda${opts.deploymentType}`,
      );
      // One service role for every group (as SAM's CodeDeployServiceRole), not one per group:
      // IAM roles per account is a fleet quota (README, "A fleet in one account").
      const role = new iam.Role(this, 'CodeDeployServiceRole', {
        assumedBy: new iam.ServicePrincipal('codedeploy.amazonaws.com'),
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSCodeDeployRoleForLambdaLimited')],
      });
      const stackAlarms = [api5xx, appApi5xx, tableAlarms.systemErrors];
      for (const { P, alias, alarms: own } of published) {
        const rollback = [...stackAlarms, ...own];
        const group = new codedeploy.LambdaDeploymentGroup(this, `${P}DeploymentGroup`, {
          application,
          alias,
          deploymentConfig: config,
          role,
          alarms: rollback.map((a, i) => cloudwatch.Alarm.fromAlarmName(this, `${P}RollbackAlarm${i}`, a.alarmName!)),
          autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
        });
        for (const a of rollback) (group.node.defaultChild as codedeploy.CfnDeploymentGroup).node.addDependency(a);
      }
    }

    // ------------------------------------------------------------ the product's roles
    // Same as template.yaml's ApplicationApiInvokePolicy: execute-api:Invoke on /app/v1 of the
    // application API only, attached to the tenant's productRoleArns (checked to be roles of
    // the stack's account by loadTenants; attached by name, which the ARN's path does not change).
    const invokePolicy =
      opts.productRoleArns.length > 0
        ? new iam.CfnManagedPolicy(this, 'ApplicationApiInvokePolicy', {
            description: `Lets the product's backend call the application API (/app/v1) of tenant ${tenant.id}`,
            policyDocument: {
              Version: '2012-10-17',
              Statement: [
                {
                  Sid: 'InvokeApplicationApi',
                  Effect: 'Allow',
                  Action: 'execute-api:Invoke',
                  Resource: this.formatArn({
                    service: 'execute-api',
                    resource: appApi.apiId,
                    resourceName: APP_INVOKE_PATH,
                    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
                  }),
                },
              ],
            },
            roles: opts.productRoleArns.map(roleName),
          })
        : undefined;

    // ------------------------------------------------------------ outputs
    new CfnOutput(this, 'Version', {
      description: "The build's version this stack runs (also the scim:version tag of every resource).",
      value: version,
    });
    new CfnOutput(this, 'TenantUrl', {
      description: 'Paste into Entra ID (Tenant URL) or Okta (SCIM connector base URL).',
      value: tenantUrl,
    });
    new CfnOutput(this, 'TokenEndpoint', {
      description: 'OAuth 2.0 token endpoint (client credentials, workload identity federation): paste into Entra ID (Token endpoint).',
      value: tokenEndpoint,
    });
    new CfnOutput(this, 'ApplicationApiUrl', {
      description: "The application API's base URL, for the product's backend (requests signed with SigV4, service execute-api).",
      value: `${appApi.apiEndpoint}/app/v1`,
    });
    if (invokePolicy) {
      new CfnOutput(this, 'ApplicationApiInvokePolicyArn', {
        description: 'Managed policy (execute-api:Invoke on /app/v1) attached to the product roles.',
        value: invokePolicy.ref,
      });
    }
    new CfnOutput(this, 'TokenSecretArn', {
      description: 'Secrets Manager secret holding the bearer token (Entra Secret Token / Okta API token).',
      value: secret.secretArn,
    });
    new CfnOutput(this, 'FetchTokenCommand', {
      description: 'Prints the current bearer token.',
      value: `aws secretsmanager get-secret-value --region ${this.region} --secret-id ${secret.secretArn} --version-stage AWSCURRENT --query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'`,
    });
    new CfnOutput(this, 'RotateTokenCommand', {
      description: 'Rotates the bearer token now (then fetch it and paste it into the IdP).',
      value: `aws secretsmanager rotate-secret --region ${this.region} --secret-id ${secret.secretArn}`,
    });
    new CfnOutput(this, 'SigningKeySecretArn', {
      description: 'Secrets Manager secret holding the access-token signing key (rotate with scim-admin oauth rotate-key).',
      value: signingSecret.secretArn,
    });
    new CfnOutput(this, 'TableName', { description: 'DynamoDB table of this tenant.', value: table.ref });
    new CfnOutput(this, 'EventBusName', { description: "EventBridge bus receiving this tenant's change events.", value: bus.eventBusName });
    new CfnOutput(this, 'EntraCredentialsSecretArn', {
      description: "Secret for the customer's Entra app registration (entra-guest-cleanup); store it with put-secret-value.",
      value: entraSecret.ref,
    });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', {
      description: 'SQS queue recording stream batches whose change events could not be published.',
      value: deadLetters.queueUrl,
    });
    if (domain) {
      new CfnOutput(this, 'ApiDomainTarget', {
        description: "Where domainName's DNS record points (a CNAME, or a Route 53 alias, to this name); made by the stack when hostedZoneId is given.",
        value: domain.attrRegionalDomainName,
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic every alarm of this stack publishes to (subscribe e-mail, a pager or chat to it).',
      value: alarmTopic.ref,
    });
  }

  /** An asynchronously invoked function's failure path (event and schedule functions): the
   * rule's invoke permission, the queue policy letting that rule (through EventBridge) send
   * undeliverable events, and Lambda's retries and on-failure destination. */
  private failureTargets(
    P: string,
    alias: lambda.Alias,
    rule: events.CfnRule,
    failures: sqs.Queue,
    invoke: { maximumRetryAttempts: number; maximumEventAgeInSeconds: number },
  ): void {
    new lambda.CfnPermission(this, `${P}InvokePermission`, {
      action: 'lambda:InvokeFunction',
      functionName: alias.functionArn,
      principal: 'events.amazonaws.com',
      sourceArn: rule.attrArn,
    });
    failures.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'UndeliverableEvents',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [failures.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
      }),
    );
    const config = new lambda.CfnEventInvokeConfig(this, `${P}AsyncInvoke`, {
      functionName: alias.version.lambda.functionName,
      qualifier: ALIAS,
      ...invoke,
      destinationConfig: { onFailure: { destination: failures.queueArn } },
    });
    config.node.addDependency(alias);
  }
}

function describe(def: FunctionDef): string {
  switch (def.kind) {
    case 'http':
      if (def.routes.includes(TOKEN_ROUTE)) return `OAuth 2.0 token endpoint ${TOKEN_ROUTE}`;
      return `${def.api === 'app' ? 'Application API' : 'SCIM'} ${def.routes.join(', ')}`;
    case 'rotation':
      return 'Rotates the SCIM bearer token secret';
    case 'schedule':
      return 'Deactivates or deletes contacts whose end date has passed';
    case 'stream':
      return def.name === 'async-worker'
        ? "Runs asynchronous SCIM requests (new job items on the table's stream) and puts their completion SETs on the tenant's event bus"
        : "Publishes change events from the table's stream (new audit records) to the tenant's event bus";
    case 'event':
      return "Disables or deletes expired guests in the customer's Entra ID (opt-in: ENTRA_CLEANUP_MODE)";
  }
}

/** "GET /scim/v2/Users/{id}" -> "GetUsersId", "$default" -> "Default". */
function routeId(route: string): string {
  if (route === '$default') return 'Default';
  const [method, path] = route.split(' ');
  const segments = path
    .split('/')
    .filter((s) => s && s !== 'scim' && s !== 'v2')
    .map((s) => s.replace(/[^A-Za-z0-9]/g, ''));
  return pascal(method.toLowerCase()) + segments.map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('');
}
