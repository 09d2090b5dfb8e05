//! [`SecretStore`] on AWS Secrets Manager, optionally encrypted with `SECRETS_KMS_KEY_ID`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretError;
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretError;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use super::{PutOutcome, SecretName, SecretStore, SecretsError};

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
    async fn delete_secret(&self, name: &SecretName, force: bool) -> Result<(), SecretsError> {
        let request = self.client.get().delete_secret().secret_id(name.as_str());
        let request = if force {
            request.force_delete_without_recovery(true)
        } else {
            request.recovery_window_in_days(RECOVERY_WINDOW_DAYS)
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => {
                // A client error's request was not carried out; a server error's may have been.
                let refused = match e.err() {
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
                    DeleteSecretError::InvalidRequestException(_) => {
                        match self.describe(name).await? {
                            None => Ok(()),
                            Some(described) if described.deleted_date.is_some() => Ok(()),
                            Some(_) => Err(failed(e.into_err())),
                        }
                    }
                    _ => Err(failed(e.into_err())),
                }
            }
            // Not answered (a timeout, a connection lost after sending): it may still land.
            Err(e) => Err(unavailable(e.into_service_error())),
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
}

#[cfg(test)]
mod tests {
    //! Secrets Manager behaviours moto does not reproduce (it purges force-deleted secrets at
    //! once), replayed through the real SDK client with canned answers.

    use super::*;
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
