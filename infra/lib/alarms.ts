// The stack's alarms (same resources, names and thresholds as template.yaml): one SNS topic
// per tenant stack, and every alarm publishes to it on ALARM and on OK.
import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';

/** Thresholds, shared with template.yaml (tests/infra/test_operations.py checks both). */
export const ALARM = {
  /** Every alarm looks at 5-minute periods, but the 401 alarm (15 minutes: Entra's cycle). */
  periodSeconds: 300,
  /** A function whose slowest invocation in a period took this share of its timeout. */
  durationShareOfTimeout: 0.8,
  /** publish-events: the oldest stream record it read is this old (the mapping gives up at 1 h). */
  iteratorAgeMilliseconds: 600_000,
  /** API 5xx: percent of requests, when the period had at least minRequests. */
  serverErrorPercent: 5,
  serverErrorMinRequests: 10,
  /** SCIM API 401: percent of requests over 15 minutes, when it had at least minRequests.
   * Entra quarantines a job on invalid credentials and above 40 % failures. */
  unauthorizedPercent: 25,
  unauthorizedMinRequests: 5,
  unauthorizedPeriodSeconds: 900,
} as const;

/** The DynamoDB operations the functions call (TransactWriteItems is no IAM action of its
 * own, so it is not in functions.json); ThrottledRequests and SystemErrors are published per
 * operation, and an alarm sums at most 10 metrics. */
export const DYNAMODB_OPERATIONS = [
  'GetItem',
  'BatchGetItem',
  'Query',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
] as const;

/** The 401 metric: a filter on the SCIM API's access log (status is a string there). */
export const UNAUTHORIZED_FILTER_PATTERN = '{ $.status = "401" }';
export const UNAUTHORIZED_METRIC = 'UnauthorizedRequests';
export const metricNamespace = (tenant: string) => `SCIM/${tenant}`;

type Dimensions = Record<string, string>;
interface Single {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Dimensions;
  readonly statistic: 'Sum' | 'Maximum';
}
interface Expression {
  /** id -> metric (Sum over the period) */
  readonly metrics: Record<string, Omit<Single, 'statistic'>>;
  readonly expression: string;
  readonly label: string;
}

/** Makes the stack's alarms, each wired to `topic` (ALARM and OK). */
export class Alarms {
  constructor(
    private readonly stack: Stack,
    private readonly tenant: string,
    private readonly topic: sns.CfnTopic,
  ) {}

  add(
    id: string,
    name: string,
    description: string,
    metric: Single | Expression,
    threshold: number,
    periodSeconds: number = ALARM.periodSeconds,
  ): cloudwatch.CfnAlarm {
    const common = {
      alarmName: `scim-${this.tenant}-${name}`,
      alarmDescription: description,
      evaluationPeriods: 1,
      threshold,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
      alarmActions: [this.topic.ref],
      okActions: [this.topic.ref],
    };
    const dims = (d: Dimensions) => {
      const list = Object.entries(d).map(([n, value]) => ({ name: n, value }));
      return list.length > 0 ? list : undefined;
    };
    if ('expression' in metric) {
      return new cloudwatch.CfnAlarm(this.stack, id, {
        ...common,
        metrics: [
          ...Object.entries(metric.metrics).map(([metricId, m]) => ({
            id: metricId,
            returnData: false,
            metricStat: {
              metric: { namespace: m.namespace, metricName: m.metricName, dimensions: dims(m.dimensions) },
              period: periodSeconds,
              stat: 'Sum',
            },
          })),
          { id: 'e', expression: metric.expression, label: metric.label, returnData: true },
        ],
      });
    }
    return new cloudwatch.CfnAlarm(this.stack, id, {
      ...common,
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensions: dims(metric.dimensions),
      statistic: metric.statistic,
      period: periodSeconds,
    });
  }

  /** Errors, throttles and a slowest invocation near the timeout of one function; returns the
   * ones that roll a gradual deployment back (errors and duration: throttles are concurrency,
   * not code). */
  forFunction(P: string, name: string, functionName: string, timeoutSeconds: number): cloudwatch.CfnAlarm[] {
    const fn = { FunctionName: functionName };
    const errors = this.add(`${P}ErrorsAlarm`, `${name}-errors`, `${name}: invocations failed (unhandled error, panic or timeout)`, {
      namespace: 'AWS/Lambda', metricName: 'Errors', dimensions: fn, statistic: 'Sum',
    }, 1);
    this.add(`${P}ThrottlesAlarm`, `${name}-throttles`, `${name}: invocations throttled (account or reserved concurrency)`, {
      namespace: 'AWS/Lambda', metricName: 'Throttles', dimensions: fn, statistic: 'Sum',
    }, 1);
    const duration = this.add(`${P}DurationAlarm`, `${name}-duration`, `${name}: an invocation took ${ALARM.durationShareOfTimeout * 100} % of its ${timeoutSeconds} s timeout`, {
      namespace: 'AWS/Lambda', metricName: 'Duration', dimensions: fn, statistic: 'Maximum',
    }, timeoutSeconds * 1000 * ALARM.durationShareOfTimeout);
    return [errors, duration];
  }

  /** A dead-letter queue holds a message. */
  forQueue(id: string, queueName: string, shortName: string, what: string): void {
    this.add(id, `${shortName}-not-empty`, `${what} (README, "Runbooks")`, {
      namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: { QueueName: queueName }, statistic: 'Maximum',
    }, 1);
  }

  /** An EventBridge rule's target failed for good, or its event could not reach the rule's DLQ. */
  forRule(id: string, name: string, ruleName: string, eventBusName: string | undefined, what: string): void {
    const dimensions: Dimensions = eventBusName ? { EventBusName: eventBusName, RuleName: ruleName } : { RuleName: ruleName };
    this.add(id, `${name}-failed`, what, {
      metrics: {
        failed: { namespace: 'AWS/Events', metricName: 'FailedInvocations', dimensions },
        lost: { namespace: 'AWS/Events', metricName: 'InvocationsFailedToBeSentToDlq', dimensions },
      },
      expression: 'failed + lost',
      label: 'Invocations failed for good, or not sent to the dead-letter queue',
    }, 1);
  }

  /** 5xx answers as a share of requests on an HTTP API. */
  forApi(id: string, name: string, apiId: string, what: string): cloudwatch.CfnAlarm {
    const api = { ApiId: apiId };
    return this.add(id, `${name}-5xx`, `${what}: at least ${ALARM.serverErrorPercent} % of requests answered 5xx`, {
      metrics: {
        errors: { namespace: 'AWS/ApiGateway', metricName: '5xx', dimensions: api },
        requests: { namespace: 'AWS/ApiGateway', metricName: 'Count', dimensions: api },
      },
      expression: `IF(requests >= ${ALARM.serverErrorMinRequests}, 100 * errors / requests, 0)`,
      label: 'Percent of requests answered 5xx',
    }, ALARM.serverErrorPercent);
  }

  /** 401 answers (wrong or retired token) as a share of the SCIM API's requests. */
  forUnauthorized(id: string, apiId: string): void {
    this.add(id, 'api-401', `SCIM API: at least ${ALARM.unauthorizedPercent} % of requests answered 401 (a wrong or retired token: Entra quarantines the job; README, "Runbooks")`, {
      metrics: {
        unauthorized: { namespace: metricNamespace(this.tenant), metricName: UNAUTHORIZED_METRIC, dimensions: {} },
        requests: { namespace: 'AWS/ApiGateway', metricName: 'Count', dimensions: { ApiId: apiId } },
      },
      expression: `IF(requests >= ${ALARM.unauthorizedMinRequests}, 100 * unauthorized / requests, 0)`,
      label: 'Percent of requests answered 401',
    }, ALARM.unauthorizedPercent, ALARM.unauthorizedPeriodSeconds);
  }

  /** DynamoDB ThrottledRequests and SystemErrors of the table, summed over the operations. */
  forTable(tableName: string): Record<'throttles' | 'systemErrors', cloudwatch.CfnAlarm> {
    const out: cloudwatch.CfnAlarm[] = [];
    for (const [id, name, metricName, what] of [
      ['TableThrottlesAlarm', 'table-throttles', 'ThrottledRequests', 'requests throttled'],
      ['TableSystemErrorsAlarm', 'table-system-errors', 'SystemErrors', 'requests failed with a DynamoDB internal error'],
    ] as const) {
      const metrics = Object.fromEntries(
        DYNAMODB_OPERATIONS.map((op) => [
          op.charAt(0).toLowerCase() + op.slice(1),
          { namespace: 'AWS/DynamoDB', metricName, dimensions: { TableName: tableName, Operation: op } },
        ]),
      );
      out.push(this.add(id, name, `DynamoDB table: ${what}`, {
        metrics,
        expression: `SUM([${Object.keys(metrics).join(', ')}])`,
        label: `${metricName}, all operations`,
      }, 1));
    }
    return { throttles: out[0], systemErrors: out[1] };
  }

  /** A stream function (publish-events, async-worker) is falling behind the table's stream. */
  forIteratorAge(id: string, name: string, functionName: string, maximumRecordAgeSeconds: number): void {
    this.add(id, `${name}-iterator-age`, `${name}: the oldest stream record it read is ${ALARM.iteratorAgeMilliseconds / 60000} minutes old (its work is late; after ${maximumRecordAgeSeconds / 3600} h a record goes to the dead-letter queue)`, {
      namespace: 'AWS/Lambda', metricName: 'IteratorAge', dimensions: { FunctionName: functionName }, statistic: 'Maximum',
    }, ALARM.iteratorAgeMilliseconds);
  }
}
