//! AWS SDK clients for an emulator on loopback (moto, or an endpoint that is meant to be
//! unreachable): test credentials, `us-east-1`, the HTTPS client every SDK client in the
//! workspace gets (`scim_aws::sdk::http_client`).

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

/// Secrets Manager at `endpoint`. One attempt: an unreachable endpoint fails at once
/// instead of after retries.
pub fn secrets_manager(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::retry::RetryConfig;
    let conf = aws_sdk_secretsmanager::Config::builder()
        .http_client(scim_aws::sdk::http_client())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

/// EventBridge at `endpoint`, with one attempt (the publisher's own retries are tested).
pub fn eventbridge(endpoint: &str) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::retry::RetryConfig;
    let conf = aws_sdk_eventbridge::Config::builder()
        .http_client(scim_aws::sdk::http_client())
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

/// SQS at `endpoint` (where the change-event tests read what EventBridge delivered).
pub fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .http_client(scim_aws::sdk::http_client())
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// A new SQS queue `name` on `sq`: its URL and ARN (what an EventBridge rule or an SNS
/// subscription targets).
pub async fn queue(sq: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let url = sq
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    let arn = sq
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone();
    (url, arn)
}
