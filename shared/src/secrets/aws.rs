//! [`SecretStore`] on AWS Secrets Manager, optionally encrypted with `SECRETS_KMS_KEY_ID`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretError;
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretError;
use aws_sdk_secretsmanager::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use secrecy::{ExposeSecret, SecretString};

use super::{ListedSecret, PutOutcome, SecretName, SecretPage, SecretStore, SecretsError};

use crate::aws::LazyClient;

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
/// Secrets Manager's shortest recovery window; `template.yaml` lets `save-credentials` delete
/// only with a window at least this long.
const RECOVERY_WINDOW_DAYS: i64 = 7;

/// How often `put` tries again while a force-deleted secret of the same name is still being
/// removed (Secrets Manager deletes asynchronously, for a few seconds). Callers bound the whole
/// call by their deadline.
const PUT_ATTEMPTS: u32 = 12;

/// The first wait between those attempts; doubles up to [`PUT_MAX_WAIT`].
const PUT_FIRST_WAIT: Duration = Duration::from_millis(250);
const PUT_MAX_WAIT: Duration = Duration::from_secs(4);

/// The first wait before a deletion is sent again (doubled each time, with jitter).
const DELETE_FIRST_WAIT: Duration = Duration::from_millis(100);

/// The Secrets Manager adapter; cheap to clone.
#[derive(Clone)]
pub struct SecretsManagerStore {
    client: LazyClient<Client>,
    kms_key_id: Option<String>,
}

impl SecretsManagerStore {
    /// The store over `client`, built already or at the first call.
    pub fn new(client: impl Into<LazyClient<Client>>, kms_key_id: Option<String>) -> Self {
        Self {
            client: client.into(),
            kms_key_id,
        }
    }

    async fn describe(
        &self,
        name: &SecretName,
    ) -> Result<Option<DescribeSecretOutput>, SecretsError> {
        match self
            .client
            .get()
            .describe_secret()
            .secret_id(name.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DescribeSecretError::ResourceNotFoundException(_)) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    /// `DeleteSecret`, at once (`force`) or after the shortest recovery window.
    ///
    /// A missing secret counts as deleted. `InvalidRequestException` has no sub-code, so it
    /// counts as deleted only when a follow-up `DescribeSecret` confirms the secret is gone or
    /// already being deleted; otherwise (a secret managed by another service, say) it is an
    /// error. A force delete also succeeds on a secret already scheduled for deletion.
    ///
    /// The call is retried here, not by the SDK, so that what the earlier attempts came to is
    /// known: the error is [`SecretsError::Refused`] only when no attempt may have been carried
    /// out. Under the SDK's own retries an attempt that went unanswered, followed by one that
    /// was throttled, ended as the throttling (a client error), and a deletion that may still
    /// land was taken for a refused one.
    async fn delete_secret(&self, name: &SecretName, force: bool) -> Result<(), SecretsError> {
        let started = tokio::time::Instant::now();
        let mut wait = DELETE_FIRST_WAIT;
        // An earlier attempt that was not answered, or failed inside Secrets Manager: it may
        // have been carried out, or may still be.
        let mut may_have_landed = false;
        for attempt in 1..=crate::aws::MAX_ATTEMPTS {
            let request = self.client.get().delete_secret().secret_id(name.as_str());
            let request = if force {
                request.force_delete_without_recovery(true)
            } else {
                request.recovery_window_in_days(RECOVERY_WINDOW_DAYS)
            };
            let error = match request
                .customize()
                .config_override(
                    aws_sdk_secretsmanager::config::Builder::default()
                        .retry_config(RetryConfig::disabled()),
                )
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let again = retryable(&error);
            let jittered = wait + wait.mul_f64(fastrand::f64());
            if again.is_some()
                && attempt < crate::aws::MAX_ATTEMPTS
                && time_for_another(started.elapsed(), jittered)
            {
                may_have_landed |= again == Some(Retry::MayHaveLanded);
                tracing::debug!(secret = %name, attempt, "deleting the secret again");
                tokio::time::sleep(jittered).await;
                wait *= 2;
                continue;
            }
            return self.deletion_failed(name, error, may_have_landed).await;
        }
        unreachable!("the last attempt returns")
    }

    /// What a deletion's last attempt failing with `error` comes to: done when the secret is
    /// gone or being deleted, refused when Secrets Manager refused it and no earlier attempt
    /// (`may_have_landed`) may have been carried out, unavailable otherwise.
    async fn deletion_failed(
        &self,
        name: &SecretName,
        error: SdkError<DeleteSecretError, HttpResponse>,
        may_have_landed: bool,
    ) -> Result<(), SecretsError> {
        let last_may_have_landed = retryable(&error) == Some(Retry::MayHaveLanded);
        let SdkError::ServiceError(e) = error else {
            // Not answered (a timeout, a connection lost after sending): it may still land.
            return Err(unavailable(error.into_service_error()));
        };
        // A client error's request was not carried out; a server error's may have been, and
        // so may a request the service timed out on (`RequestTimeout`, a client error).
        let refused = !may_have_landed
            && !last_may_have_landed
            && match e.err() {
                DeleteSecretError::InvalidRequestException(_)
                | DeleteSecretError::InvalidParameterException(_) => true,
                DeleteSecretError::InternalServiceError(_) => false,
                _ => e.raw().status().is_client_error(),
            };
        let failed = |e| {
            if refused {
                SecretsError::Refused(Box::new(e))
            } else {
                unavailable(e)
            }
        };
        match e.err() {
            DeleteSecretError::ResourceNotFoundException(_) => Ok(()),
            DeleteSecretError::InvalidRequestException(_) => match self.describe(name).await? {
                None => Ok(()),
                Some(described) if described.deleted_date.is_some() => Ok(()),
                Some(_) => Err(failed(e.into_err())),
            },
            _ => Err(failed(e.into_err())),
        }
    }

    /// Adds a pending version to an existing secret, restoring it first if it is scheduled
    /// for deletion. `Ok(None)` when the secret is being force-deleted (it can be neither
    /// restored nor written until it is gone; the caller creates it anew then).
    async fn put_pending(
        &self,
        name: &SecretName,
        described: &DescribeSecretOutput,
        value: &SecretString,
    ) -> Result<Option<String>, SecretsError> {
        if described.deleted_date.is_some() {
            tracing::info!(secret = %name, "restoring a secret that was pending deletion");
            match self
                .client
                .get()
                .restore_secret()
                .secret_id(name.as_str())
                .send()
                .await
            {
                Ok(_) => {}
                Err(SdkError::ServiceError(e))
                    if matches!(
                        e.err(),
                        RestoreSecretError::InvalidRequestException(_)
                            | RestoreSecretError::ResourceNotFoundException(_)
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(unavailable(e.into_service_error())),
            }
        }
        match self
            .client
            .get()
            .put_secret_value()
            .secret_id(name.as_str())
            .secret_string(value.expose_secret())
            .version_stages(PENDING)
            .send()
            .await
        {
            Ok(out) => version_of(out.version_id).map(Some),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    PutSecretValueError::InvalidRequestException(_)
                        | PutSecretValueError::ResourceNotFoundException(_)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}

/// Whether another attempt of a deletion, sent after `wait`, ends within the SDK's operation
/// timeout even if it hangs for its whole attempt timeout: the whole call stays within the
/// bound the disconnect's deletion lease counts on (`crate::lifecycle::DELETION_LEASE`).
fn time_for_another(elapsed: Duration, wait: Duration) -> bool {
    elapsed + wait + crate::aws::ATTEMPT_TIMEOUT <= crate::aws::OPERATION_TIMEOUT
}

/// Whether a failed attempt is worth sending again, and what it may have done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Refused before it was carried out (throttled).
    NotCarriedOut,
    /// Not answered, or failed inside the service: it may have been carried out.
    MayHaveLanded,
}

/// The SDK's standard retry rules, told apart by what the attempt may have done: throttling
/// and transient error codes (the SDK's own lists), server errors, and requests that were not
/// answered. A request that was never sent (it could not be built or signed) is not retried.
fn retryable<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Option<Retry> {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    match error {
        SdkError::ConstructionFailure(_) => None,
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            if THROTTLING_ERRORS.contains(&code) {
                Some(Retry::NotCarriedOut)
            } else if e.raw().status().is_server_error() || TRANSIENT_ERRORS.contains(&code) {
                Some(Retry::MayHaveLanded)
            } else {
                None
            }
        }
        _ => Some(Retry::MayHaveLanded),
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> SecretsError {
    SecretsError::Unavailable(Box::new(e))
}

fn version_of(version: Option<String>) -> Result<String, SecretsError> {
    version.ok_or_else(|| {
        unavailable(std::io::Error::other(
            "Secrets Manager returned no VersionId",
        ))
    })
}

fn current_of(described: &DescribeSecretOutput) -> Option<String> {
    described.version_ids_to_stages().and_then(|stages| {
        stages
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == CURRENT))
            .map(|(id, _)| id.clone())
    })
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        let mut wait = PUT_FIRST_WAIT;
        let mut last_error = None;
        for attempt in 0..PUT_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(PUT_MAX_WAIT);
            }
            let created = self
                .client
                .get()
                .create_secret()
                .name(name.as_str())
                .description("Shopify Admin API credentials of one connected store")
                .set_kms_key_id(self.kms_key_id.clone())
                .secret_string(value.expose_secret())
                .send()
                .await;
            let error = match created {
                Ok(out) => {
                    return Ok(PutOutcome {
                        version_id: version_of(out.version_id)?,
                        created: true,
                    })
                }
                // It exists, is scheduled for deletion, or is still being force-deleted.
                Err(SdkError::ServiceError(e))
                    if matches!(
                        e.err(),
                        CreateSecretError::ResourceExistsException(_)
                            | CreateSecretError::InvalidRequestException(_)
                    ) =>
                {
                    e.into_err()
                }
                Err(e) => return Err(unavailable(e.into_service_error())),
            };
            if let Some(described) = self.describe(name).await? {
                if let Some(version_id) = self.put_pending(name, &described, value).await? {
                    return Ok(PutOutcome {
                        version_id,
                        created: false,
                    });
                }
            }
            // Gone meanwhile, or being force-deleted: create it again after a wait.
            last_error = Some(error);
        }
        Err(unavailable(last_error.expect("the loop ran at least once")))
    }

    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        Ok(self
            .describe(name)
            .await?
            .filter(|d| d.deleted_date.is_none())
            .and_then(|d| current_of(&d)))
    }

    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        let result = self
            .client
            .get()
            .get_secret_value()
            .secret_id(name.as_str())
            .version_id(version_id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(SdkError::ServiceError(e)) => match e.err() {
                GetSecretValueError::ResourceNotFoundException(_) => Ok(None),
                // Scheduled for deletion or being deleted; anything else is an error.
                GetSecretValueError::InvalidRequestException(_) => {
                    match self.describe(name).await? {
                        None => Ok(None),
                        Some(described) if described.deleted_date.is_some() => Ok(None),
                        Some(_) => Err(unavailable(e.into_err())),
                    }
                }
                _ => Err(unavailable(e.into_err())),
            },
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError> {
        let Some(described) = self.describe(name).await? else {
            return Ok(());
        };
        let current = current_of(&described);
        if current.as_deref() == Some(version_id) {
            return Ok(());
        }
        self.client
            .get()
            .update_secret_version_stage()
            .secret_id(name.as_str())
            .version_stage(CURRENT)
            .move_to_version_id(version_id)
            .set_remove_from_version_id(current)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.delete_secret(name, false).await
    }

    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.delete_secret(name, true).await
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<SecretPage, SecretsError> {
        let out = self
            .client
            .get()
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            )
            .max_results(100)
            .set_next_token(cursor.map(str::to_owned))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let secrets = out
            .secret_list
            .unwrap_or_default()
            .into_iter()
            // The name filter matches prefixes in any case: the exact one only.
            .filter(|s| s.deleted_date.is_none())
            .filter_map(|s| {
                let changed = s.last_changed_date.or(s.created_date);
                let name = s.name?;
                name.starts_with(prefix).then(|| ListedSecret {
                    name,
                    changed_at: changed
                        .and_then(|d| chrono::DateTime::from_timestamp(d.secs(), d.subsec_nanos())),
                })
            })
            .collect();
        Ok(SecretPage {
            secrets,
            next: out.next_token.filter(|t| !t.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Secrets Manager behaviours moto does not reproduce (it purges force-deleted secrets at
    //! once), replayed through the real SDK client with canned answers.

    use super::*;
    use aws_sdk_secretsmanager::config::{AsyncSleep, SharedAsyncSleep, Sleep};
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
    use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretOutput;
    use aws_sdk_secretsmanager::primitives::DateTime;
    use aws_sdk_secretsmanager::types::error::InvalidRequestException;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn invalid_request(message: &str) -> InvalidRequestException {
        InvalidRequestException::builder().message(message).build()
    }

    fn name() -> SecretName {
        SecretName::for_store(
            "opencx/shopify",
            &crate::domain::OrganizationId::parse("org").unwrap(),
            &crate::domain::ShopDomain::parse("demo").unwrap(),
        )
    }

    fn described(deleted: bool) -> DescribeSecretOutput {
        let output = DescribeSecretOutput::builder().name(name().as_str());
        if deleted {
            output
                .deleted_date(DateTime::from_secs(1_795_000_000))
                .build()
        } else {
            output.build()
        }
    }

    #[tokio::test]
    async fn a_connect_right_after_a_force_delete_waits_for_it_instead_of_failing() {
        // What AWS answers for a few seconds after a force delete: the name is blocked, the
        // secret still described with a deletion date, and it cannot be restored.
        let blocked = mock!(Client::create_secret).then_error(|| {
            CreateSecretError::InvalidRequestException(invalid_request(
                "You can't perform this operation on the secret because it was deleted.",
            ))
        });
        let still_there = mock!(Client::describe_secret).then_output(|| described(true));
        let not_restorable = mock!(Client::restore_secret).then_error(|| {
            RestoreSecretError::InvalidRequestException(invalid_request(
                "You can't perform this operation on the secret because it was deleted.",
            ))
        });
        let created = mock!(Client::create_secret)
            .then_output(|| CreateSecretOutput::builder().version_id("v-new").build());
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&blocked, &still_there, &not_restorable, &created]
        );
        let store = SecretsManagerStore::new(client, None);

        let outcome = store.put(&name(), &"{}".to_owned().into()).await.unwrap();

        assert_eq!(
            outcome,
            PutOutcome {
                version_id: "v-new".into(),
                created: true
            }
        );
        assert_eq!(created.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_secret_scheduled_for_deletion_is_restored_and_written() {
        let scheduled = mock!(Client::create_secret).then_error(|| {
            CreateSecretError::InvalidRequestException(invalid_request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ))
        });
        let still_there = mock!(Client::describe_secret).then_output(|| described(true));
        let restored =
            mock!(Client::restore_secret).then_output(|| RestoreSecretOutput::builder().build());
        let written = mock!(Client::put_secret_value).then_output(|| {
            aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput::builder()
                .version_id("v-pending")
                .build()
        });
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&scheduled, &still_there, &restored, &written]
        );
        let store = SecretsManagerStore::new(client, None);

        let outcome = store.put(&name(), &"{}".to_owned().into()).await.unwrap();

        assert_eq!(
            outcome,
            PutOutcome {
                version_id: "v-pending".into(),
                created: false
            }
        );
        assert_eq!(restored.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_force_delete_is_not_taken_for_a_deletion() {
        let refused = mock!(Client::delete_secret).then_error(|| {
            DeleteSecretError::InvalidRequestException(invalid_request(
                "The secret is managed by another service.",
            ))
        });
        let live = mock!(Client::describe_secret).then_output(|| described(false));
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&refused, &live]
        );
        let store = SecretsManagerStore::new(client, None);

        assert!(
            matches!(store.delete(&name()).await, Err(SecretsError::Refused(_))),
            "the secret is still there, and the deletion will not land later"
        );
    }

    #[tokio::test]
    async fn a_force_delete_failing_inside_secrets_manager_may_still_land() {
        let failed = mock!(Client::delete_secret).then_error(|| {
            DeleteSecretError::InternalServiceError(
                aws_sdk_secretsmanager::types::error::InternalServiceError::builder()
                    .message("An error occurred on the server side.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&failed]);
        let store = SecretsManagerStore::new(client, None);

        assert!(matches!(
            store.delete(&name()).await,
            Err(SecretsError::Unavailable(_))
        ));
    }

    /// A client that retries as the functions' clients do (standard retries, three attempts).
    fn retrying_client(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            rules,
            |conf| {
                conf.retry_config(
                    RetryConfig::standard()
                        .with_max_attempts(crate::aws::MAX_ATTEMPTS)
                        .with_initial_backoff(Duration::from_millis(1)),
                )
                .sleep_impl(SharedAsyncSleep::new(TokioSleep))
            }
        )
    }

    #[derive(Debug)]
    struct TokioSleep;

    impl AsyncSleep for TokioSleep {
        fn sleep(&self, duration: Duration) -> Sleep {
            Sleep::new(tokio::time::sleep(duration))
        }
    }

    fn answer(error_type: &str, message: &str) -> Option<String> {
        Some(format!(
            r#"{{"__type":"{error_type}","message":"{message}"}}"#
        ))
    }

    #[tokio::test]
    async fn a_force_delete_throttled_after_an_attempt_that_failed_inside_may_still_land() {
        // The first attempt fails inside Secrets Manager (it may have been carried out); the
        // next ones are throttled. The last answer is a client error, but the deletion is not
        // known not to land.
        let attempts = mock!(Client::delete_secret)
            .sequence()
            .http_status(500, answer("InternalServiceError", "An error occurred."))
            .http_status(400, answer("ThrottlingException", "Rate exceeded."))
            .times(2)
            .build();
        let store = SecretsManagerStore::new(retrying_client(&[&attempts]), None);

        let deleted = store.delete(&name()).await;

        assert!(
            matches!(deleted, Err(SecretsError::Unavailable(_))),
            "{deleted:?}"
        );
        assert_eq!(attempts.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_deletion_the_service_timed_out_on_may_still_land() {
        // Throttled twice, then a `RequestTimeout`: a client error, but the last request may
        // have been carried out.
        let attempts = mock!(Client::delete_secret)
            .sequence()
            .http_status(400, answer("ThrottlingException", "Rate exceeded."))
            .times(2)
            .http_status(400, answer("RequestTimeoutException", "Request timed out."))
            .build();
        let store = SecretsManagerStore::new(retrying_client(&[&attempts]), None);

        let deleted = store.delete(&name()).await;

        assert!(
            matches!(deleted, Err(SecretsError::Unavailable(_))),
            "{deleted:?}"
        );
    }

    #[test]
    fn a_deletion_is_sent_again_only_if_it_would_end_within_the_operation_timeout() {
        use crate::aws::{ATTEMPT_TIMEOUT, OPERATION_TIMEOUT};
        let wait = Duration::from_millis(200);
        assert!(time_for_another(Duration::from_millis(10), wait));
        // Two attempts that hung for their whole attempt timeout: a third could end past it.
        let hung_twice = ATTEMPT_TIMEOUT * 2 + Duration::from_millis(300);
        assert!(!time_for_another(hung_twice, wait));
        assert!(hung_twice + wait + ATTEMPT_TIMEOUT > OPERATION_TIMEOUT);
        let edge = OPERATION_TIMEOUT - ATTEMPT_TIMEOUT - wait;
        assert!(time_for_another(edge, wait));
        assert!(!time_for_another(edge + Duration::from_millis(1), wait));
    }

    #[tokio::test]
    async fn a_force_delete_only_ever_throttled_was_refused() {
        let attempts = mock!(Client::delete_secret)
            .sequence()
            .http_status(400, answer("ThrottlingException", "Rate exceeded."))
            .times(3)
            .build();
        let store = SecretsManagerStore::new(retrying_client(&[&attempts]), None);

        let deleted = store.delete(&name()).await;

        assert!(
            matches!(deleted, Err(SecretsError::Refused(_))),
            "{deleted:?}"
        );
        assert_eq!(attempts.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_force_delete_that_lands_on_a_later_attempt_is_done() {
        let attempts = mock!(Client::delete_secret)
            .sequence()
            .http_status(503, None)
            .output(|| {
                aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretOutput::builder()
                    .build()
            })
            .build();
        let store = SecretsManagerStore::new(retrying_client(&[&attempts]), None);

        assert!(store.delete(&name()).await.is_ok());
        assert_eq!(attempts.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_refused_delete_after_an_attempt_that_may_have_landed_is_not_a_refusal() {
        // The retry meets the secret still there and not being deleted, but the first attempt
        // may yet be carried out.
        let attempts = mock!(Client::delete_secret)
            .sequence()
            .http_status(500, answer("InternalServiceError", "An error occurred."))
            .http_status(
                400,
                answer(
                    "InvalidRequestException",
                    "The secret is managed by another service.",
                ),
            )
            .build();
        let live = mock!(Client::describe_secret).then_output(|| described(false));
        let store = SecretsManagerStore::new(retrying_client(&[&attempts, &live]), None);

        let deleted = store.delete(&name()).await;

        assert!(
            matches!(deleted, Err(SecretsError::Unavailable(_))),
            "{deleted:?}"
        );
    }

    #[tokio::test]
    async fn scheduling_a_secret_already_scheduled_counts_as_done() {
        let again = mock!(Client::delete_secret).then_error(|| {
            DeleteSecretError::InvalidRequestException(invalid_request(
                "You can't perform this operation on the secret because it was marked for deletion.",
            ))
        });
        let scheduled = mock!(Client::describe_secret).then_output(|| described(true));
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&again, &scheduled]
        );
        let store = SecretsManagerStore::new(client, None);

        assert!(store.schedule_deletion(&name()).await.is_ok());
    }

    #[tokio::test]
    async fn a_version_of_a_secret_pending_deletion_reads_as_gone() {
        let marked = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::InvalidRequestException(invalid_request(
                "You can't perform this operation on the secret because it was marked for deletion.",
            ))
        });
        let scheduled = mock!(Client::describe_secret).then_output(|| described(true));
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::Sequential,
            [&marked, &scheduled]
        );
        let store = SecretsManagerStore::new(client, None);

        assert!(store.get_version(&name(), "v1").await.unwrap().is_none());
    }
}
