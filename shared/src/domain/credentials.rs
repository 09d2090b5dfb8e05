//! Shopify credentials as a merchant gives them to us. Secret parts are `SecretString`, so they
//! cannot reach `Debug`, logs or serialized output by accident.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How a store authenticates against the Admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// A legacy admin-created custom app's Admin API access token (`shpat_...`).
    AccessToken,
    /// A Dev Dashboard app's client id/secret, exchanged for a ~24 h token.
    ClientCredentials,
}

/// What is kept in Secrets Manager for one store.
#[derive(Clone, Debug)]
pub enum Credentials {
    AccessToken(SecretString),
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
}

/// A credential that is empty, too long or holds characters no Shopify credential has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1-512 visible ASCII characters without spaces")]
pub struct InvalidCredentialsFormat {
    pub field: &'static str,
}

/// The JSON document stored as the secret value. Only the secrets adapter serializes it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "auth_type", rename_all = "snake_case")]
enum StoredForm {
    AccessToken {
        access_token: String,
    },
    ClientCredentials {
        client_id: String,
        client_secret: String,
    },
}

fn check(field: &'static str, value: &str) -> Result<(), InvalidCredentialsFormat> {
    let ok = !value.is_empty() && value.len() <= 512 && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(InvalidCredentialsFormat { field })
    }
}

impl Credentials {
    /// A static Admin API token, checked for shape (it must fit in an HTTP header).
    pub fn access_token(token: SecretString) -> Result<Self, InvalidCredentialsFormat> {
        check("access_token", token.expose_secret().trim())?;
        Ok(Self::AccessToken(token.expose_secret().trim().into()))
    }

    /// A Dev Dashboard app's client id and secret, checked for shape.
    pub fn client_credentials(
        client_id: &str,
        client_secret: SecretString,
    ) -> Result<Self, InvalidCredentialsFormat> {
        check("client_id", client_id.trim())?;
        check("client_secret", client_secret.expose_secret().trim())?;
        Ok(Self::ClientCredentials {
            client_id: client_id.trim().to_owned(),
            client_secret: client_secret.expose_secret().trim().into(),
        })
    }

    pub fn auth_type(&self) -> AuthType {
        match self {
            Self::AccessToken(_) => AuthType::AccessToken,
            Self::ClientCredentials { .. } => AuthType::ClientCredentials,
        }
    }

    /// The secret value as stored in Secrets Manager.
    pub fn to_secret_json(&self) -> SecretString {
        let form = match self {
            Self::AccessToken(token) => StoredForm::AccessToken {
                access_token: token.expose_secret().to_owned(),
            },
            Self::ClientCredentials {
                client_id,
                client_secret,
            } => StoredForm::ClientCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.expose_secret().to_owned(),
            },
        };
        serde_json::to_string(&form)
            .expect("a struct of strings always serializes")
            .into()
    }

    /// Reads a secret value written by [`Credentials::to_secret_json`].
    pub fn from_secret_json(value: &SecretString) -> Option<Self> {
        match serde_json::from_str::<StoredForm>(value.expose_secret()).ok()? {
            StoredForm::AccessToken { access_token } => {
                Some(Self::AccessToken(access_token.into()))
            }
            StoredForm::ClientCredentials {
                client_id,
                client_secret,
            } => Some(Self::ClientCredentials {
                client_id,
                client_secret: client_secret.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let creds = Credentials::client_credentials("cid", "very-secret".into()).unwrap();
        let token = Credentials::access_token("shpat_abc123".into()).unwrap();
        let printed = format!("{creds:?} {token:?}");
        assert!(!printed.contains("very-secret"));
        assert!(!printed.contains("shpat_abc123"));
    }

    #[test]
    fn secret_json_round_trips_both_forms() {
        let token = Credentials::access_token(" shpat_abc ".into()).unwrap();
        match Credentials::from_secret_json(&token.to_secret_json()).unwrap() {
            Credentials::AccessToken(t) => assert_eq!(t.expose_secret(), "shpat_abc"),
            other => panic!("unexpected {other:?}"),
        }
        let cc = Credentials::client_credentials("cid", "sec".into()).unwrap();
        match Credentials::from_secret_json(&cc.to_secret_json()).unwrap() {
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                assert_eq!(client_id, "cid");
                assert_eq!(client_secret.expose_secret(), "sec");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn credentials_with_spaces_or_control_characters_are_rejected() {
        assert!(Credentials::access_token("".into()).is_err());
        assert!(Credentials::access_token("shpat abc".into()).is_err());
        assert!(Credentials::access_token("shpat\r\nX-Evil: 1".into()).is_err());
        assert!(Credentials::client_credentials("", "s".into()).is_err());
        assert!(Credentials::client_credentials("id", "".into()).is_err());
    }
}
