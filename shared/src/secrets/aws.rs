//! [`SecretStore`] on AWS Secrets Manager, optionally encrypted with `SECRETS_KMS_KEY_ID`.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use super::{PutOutcome, SecretName, SecretStore, SecretsError};

const CURRENT: &str = "AWSCURRENT";

/// The Secrets Manager adapter; cheap to clone.
#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
    kms_key_id: Option<String>,
}

impl SecretsManagerStore {
    pub fn new(client: Client, kms_key_id: Option<String>) -> Self {
        Self { client, kms_key_id }
    }

    async fn put_value(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<String, SecretsError> {
        if self.pending_deletion(name).await? {
            self.restore(name).await?;
        }
        for attempt in 0..2 {
            let result = self
                .client
                .put_secret_value()
                .secret_id(name.as_str())
                .secret_string(value.expose_secret())
                .send()
                .await;
            match result {
                Ok(out) => return version_of(out.version_id),
                // Pending deletion: bring it back, then write the new version.
                Err(SdkError::ServiceError(e))
                    if attempt == 0
                        && matches!(e.err(), PutSecretValueError::InvalidRequestException(_)) =>
                {
                    self.restore(name).await?;
                }
                Err(e) => return Err(unavailable(e.into_service_error())),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Whether the secret is scheduled for deletion (it still exists, but cannot be used).
    async fn pending_deletion(&self, name: &SecretName) -> Result<bool, SecretsError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(name.as_str())
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(described.deleted_date.is_some())
    }

    async fn restore(&self, name: &SecretName) -> Result<(), SecretsError> {
        tracing::info!(secret = %name, "restoring a secret that was pending deletion");
        self.client
            .restore_secret()
            .secret_id(name.as_str())
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
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

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        let result = self
            .client
            .create_secret()
            .name(name.as_str())
            .description("Shopify Admin API credentials of one connected store")
            .set_kms_key_id(self.kms_key_id.clone())
            .secret_string(value.expose_secret())
            .send()
            .await;
        match result {
            Ok(out) => Ok(PutOutcome {
                version_id: version_of(out.version_id)?,
                created: true,
            }),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    CreateSecretError::ResourceExistsException(_)
                        | CreateSecretError::InvalidRequestException(_)
                ) =>
            {
                Ok(PutOutcome {
                    version_id: self.put_value(name, value).await?,
                    created: false,
                })
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(name.as_str())
            .version_id(version_id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    GetSecretValueError::ResourceNotFoundException(_)
                        | GetSecretValueError::InvalidRequestException(_)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(name.as_str())
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let current = described.version_ids_to_stages().and_then(|stages| {
            stages
                .iter()
                .find(|(_, labels)| labels.iter().any(|l| l == CURRENT))
                .map(|(id, _)| id.clone())
        });
        if current.as_deref() == Some(version_id) {
            return Ok(());
        }
        self.client
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

    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(name.as_str())
            .force_delete_without_recovery(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteSecretError::ResourceNotFoundException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}
