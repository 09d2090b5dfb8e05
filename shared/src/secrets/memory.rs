//! In-memory [`SecretStore`] for handler tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{PutOutcome, SecretName, SecretStore, SecretsError};

#[derive(Default)]
struct Entry {
    versions: Vec<(String, SecretString)>,
    current: String,
}

#[derive(Default)]
pub struct MemorySecretStore {
    secrets: Mutex<BTreeMap<SecretName, Entry>>,
    counter: Mutex<u64>,
}

impl MemorySecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Names of the secrets that exist, for assertions.
    pub fn names(&self) -> Vec<String> {
        self.secrets
            .lock()
            .unwrap()
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// The current value of a secret, for assertions.
    pub fn current(&self, name: &SecretName) -> Option<String> {
        let secrets = self.secrets.lock().unwrap();
        let entry = secrets.get(name)?;
        entry
            .versions
            .iter()
            .find(|(id, _)| *id == entry.current)
            .map(|(_, v)| v.expose_secret().to_owned())
    }
}

#[async_trait]
impl SecretStore for MemorySecretStore {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        let version_id = {
            let mut counter = self.counter.lock().unwrap();
            *counter += 1;
            format!("v{counter}")
        };
        let mut secrets = self.secrets.lock().unwrap();
        let created = !secrets.contains_key(name);
        let entry = secrets.entry(name.clone()).or_default();
        entry.versions.push((version_id.clone(), value.clone()));
        if created {
            entry.current = version_id.clone();
        }
        Ok(PutOutcome {
            version_id,
            created,
        })
    }

    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        Ok(self.secrets.lock().unwrap().get(name).and_then(|e| {
            e.versions
                .iter()
                .find(|(id, _)| id == version_id)
                .map(|(_, v)| v.clone())
        }))
    }

    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        Ok(self
            .secrets
            .lock()
            .unwrap()
            .get(name)
            .map(|e| e.current.clone()))
    }

    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError> {
        if let Some(entry) = self.secrets.lock().unwrap().get_mut(name) {
            if entry.versions.iter().any(|(id, _)| id == version_id) {
                entry.current = version_id.to_owned();
            }
        }
        Ok(())
    }

    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.delete(name).await
    }

    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.secrets.lock().unwrap().remove(name);
        Ok(())
    }
}
