//! The developer portal's records in `server.data_dir`:
//!
//! ```text
//! DATA_DIR/portal/consumers/ID.json         an account: email, password hash, status
//! DATA_DIR/portal/published/API/STAGE.json  a stage in the catalogue, with its description
//! DATA_DIR/portal/plans/PLAN.json           a usage plan consumers may subscribe to themselves
//! DATA_DIR/portal/invites/DIGEST.json       an invitation (named by the sha256 of its token)
//! ```
//!
//! Passwords are kept only as argon2id hashes (PHC strings); invitation
//! tokens only as digests. Every file is written with
//! [`crate::util::fs::write_durably`].

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::util::fs::{remove_durably, write_durably};

/// A consumer account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// Its id: twelve lower-case letters and digits.
    pub id: String,
    /// The email address it signs in with, lower-cased.
    pub email: String,
    /// The argon2id hash of its password (PHC string).
    pub password_hash: String,
    /// Whether it may sign in.
    pub status: ConsumerStatus,
    /// When it signed up, RFC 3339.
    pub created_at: String,
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerStatus {
    /// Signed up, waiting for an operator (`signup = "approval"`).
    Pending,
    /// May sign in and hold keys.
    Active,
    /// Stopped by an operator; its keys were revoked.
    Disabled,
}

/// A published stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// What consumers read about it in the catalogue.
    #[serde(default)]
    pub description: String,
}

/// A published stage with its (API, stage).
pub type PublishedStage = ((String, String), Published);

/// A usage plan as the portal offers it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlanListing {
    /// Consumers may subscribe to it themselves.
    pub self_service: bool,
    /// What consumers read about it.
    #[serde(default)]
    pub description: String,
}

/// An invitation to sign up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    /// The address it was made for; sign-up must use it.
    pub email: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
}

/// The portal's records under a data directory.
#[derive(Debug, Clone)]
pub struct PortalStore {
    root: PathBuf,
}

impl PortalStore {
    /// The store in `data_dir`.
    pub fn new(data_dir: &Path) -> PortalStore {
        PortalStore {
            root: data_dir.join("portal"),
        }
    }

    fn consumer_path(&self, id: &str) -> PathBuf {
        self.root.join("consumers").join(format!("{id}.json"))
    }

    /// Every account, oldest first.
    pub fn consumers(&self) -> Result<Vec<Consumer>, String> {
        let mut all: Vec<Consumer> = read_all(&self.root.join("consumers"))?;
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The account `id`, if there is one.
    pub fn consumer(&self, id: &str) -> Result<Option<Consumer>, String> {
        if !is_record_id(id) {
            return Ok(None);
        }
        read_one(&self.consumer_path(id))
    }

    /// The account signing in with `email` (compared lower-cased).
    pub fn consumer_by_email(&self, email: &str) -> Result<Option<Consumer>, String> {
        let email = email.to_ascii_lowercase();
        Ok(self.consumers()?.into_iter().find(|c| c.email == email))
    }

    /// Writes an account.
    pub fn put_consumer(&self, consumer: &Consumer) -> Result<(), String> {
        write_json(&self.consumer_path(&consumer.id), consumer)
    }

    /// Removes an account.
    pub fn remove_consumer(&self, id: &str) -> Result<bool, String> {
        if !is_record_id(id) {
            return Ok(false);
        }
        let path = self.consumer_path(id);
        remove_durably(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
    }

    fn published_path(&self, api: &str, stage: &str) -> PathBuf {
        self.root
            .join("published")
            .join(api)
            .join(format!("{stage}.json"))
    }

    /// Every published stage, by (API, stage).
    pub fn published(&self) -> Result<Vec<PublishedStage>, String> {
        let dir = self.root.join("published");
        let apis = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
        };
        let mut out = Vec::new();
        for api in apis.filter_map(Result::ok) {
            let Some(api_name) = api.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            for (stage, record) in read_named::<Published>(&api.path())? {
                out.push(((api_name.clone(), stage), record));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Publishes a stage (or changes its description).
    pub fn publish(&self, api: &str, stage: &str, record: &Published) -> Result<(), String> {
        write_json(&self.published_path(api, stage), record)
    }

    /// Takes a stage out of the catalogue; `false` if it was not in it.
    pub fn unpublish(&self, api: &str, stage: &str) -> Result<bool, String> {
        let path = self.published_path(api, stage);
        remove_durably(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
    }

    /// Every plan listing, by plan.
    pub fn plans(&self) -> Result<Vec<(String, PlanListing)>, String> {
        let mut all = read_named::<PlanListing>(&self.root.join("plans"))?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// Writes a plan's listing.
    pub fn put_plan(&self, plan: &str, listing: &PlanListing) -> Result<(), String> {
        write_json(
            &self.root.join("plans").join(format!("{plan}.json")),
            listing,
        )
    }

    /// Records an invitation under the digest of its token.
    pub fn put_invite(&self, digest: &str, invite: &Invite) -> Result<(), String> {
        write_json(
            &self.root.join("invites").join(format!("{digest}.json")),
            invite,
        )
    }

    /// Takes the invitation with this digest if it was made for `email`:
    /// it is used once (and not by another address).
    pub fn take_invite(&self, digest: &str, email: &str) -> Result<Option<Invite>, String> {
        if !super::is_sha256(digest) {
            return Ok(None);
        }
        let path = self.root.join("invites").join(format!("{digest}.json"));
        let invite = read_one::<Invite>(&path)?.filter(|i| i.email == email);
        if invite.is_some() {
            remove_durably(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
        Ok(invite)
    }
}

/// Whether `id` looks like a record id (checked before it goes into a
/// file name).
pub fn is_record_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Twelve random lower-case letters and digits.
pub fn new_record_id() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| format!("no secure random source: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    write_durably(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_one<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Every `NAME.json` in `dir`, parsed, with its name.
fn read_named<T: DeserializeOwned>(dir: &Path) -> Result<Vec<(String, T)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.starts_with('.'))
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if let Some(record) = read_one(&path)? {
            out.push((name.to_owned(), record));
        }
    }
    Ok(out)
}

fn read_all<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>, String> {
    Ok(read_named(dir)?.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_invites_are_used_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PortalStore::new(dir.path());
        let consumer = Consumer {
            id: new_record_id().expect("id"),
            email: "ada@example.com".into(),
            password_hash: "$argon2id$...".into(),
            status: ConsumerStatus::Pending,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        store.put_consumer(&consumer).expect("put");
        assert_eq!(
            store.consumer_by_email("ADA@example.com").expect("read"),
            Some(consumer.clone())
        );
        assert_eq!(store.consumer("../x").expect("read"), None);
        store
            .publish("shop", "$default", &Published::default())
            .expect("publish");
        assert_eq!(store.published().expect("list").len(), 1);
        assert!(store.unpublish("shop", "$default").expect("unpublish"));
        assert!(store.published().expect("list").is_empty());
        let digest = "a".repeat(64);
        let invite = Invite {
            email: "b@example.com".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        store.put_invite(&digest, &invite).expect("invite");
        assert_eq!(
            store.take_invite(&digest, "c@example.com").expect("other"),
            None
        );
        assert_eq!(
            store.take_invite(&digest, "b@example.com").expect("take"),
            Some(invite)
        );
        assert_eq!(
            store.take_invite(&digest, "b@example.com").expect("again"),
            None
        );
    }
}
