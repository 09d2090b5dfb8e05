//! In-memory [`SecretStore`] for handler tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{ListedSecret, PutOutcome, SecretName, SecretPage, SecretStore, SecretsError};

struct Entry {
    versions: Vec<(String, SecretString)>,
    current: String,
    changed_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct MemorySecretStore {
    secrets: Mutex<BTreeMap<SecretName, Entry>>,
    counter: Mutex<u64>,
    /// Secrets per [`SecretStore::list`] page; 100 (Secrets Manager's most) when 0.
    page_size: usize,
}

impl MemorySecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose listing pages hold `page_size` secrets.
    pub fn with_page_size(page_size: usize) -> Self {
        Self {
            page_size,
            ..Self::default()
        }
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
        let entry = secrets.entry(name.clone()).or_insert_with(|| Entry {
            versions: Vec::new(),
            current: String::new(),
            changed_at: Utc::now(),
        });
        entry.changed_at = Utc::now();
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
            if entry.versions.iter().any(|(id, _)| id == version_id) && entry.current != version_id
            {
                entry.current = version_id.to_owned();
                entry.changed_at = Utc::now();
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

    /// Pages as moto's and, as far as anyone can tell, Secrets Manager's: the cursor is an
    /// offset into the listing as it is when the next page is asked for, so secrets deleted
    /// meanwhile shift what the next page holds.
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<SecretPage, SecretsError> {
        let size = if self.page_size == 0 {
            100
        } else {
            self.page_size
        };
        let offset: usize = match cursor {
            None => 0,
            Some(cursor) => cursor.parse().map_err(|_| {
                SecretsError::Refused(format!("not a cursor of this listing: {cursor}").into())
            })?,
        };
        let secrets = self.secrets.lock().unwrap();
        let matching: Vec<ListedSecret> = secrets
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(prefix))
            .map(|(name, entry)| ListedSecret {
                name: name.to_string(),
                changed_at: Some(entry.changed_at),
            })
            .collect();
        let end = (offset + size).min(matching.len());
        Ok(SecretPage {
            secrets: matching.get(offset..end).unwrap_or_default().to_vec(),
            next: (end < matching.len()).then(|| end.to_string()),
        })
    }
}
