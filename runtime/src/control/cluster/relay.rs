//! `@connections` across the fleet: a call for a WebSocket connection this
//! node does not hold is published on the fleet's relay channel; every
//! node answers on the caller's reply channel, the one holding the
//! connection with the call's outcome, the others with "not here". The
//! caller knows from `PUBLISH` how many nodes heard the call, so it can
//! answer 410 as soon as all of them said "not here", without waiting for
//! a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::redis::{ClusterError, Shared};

/// How long a relayed call waits for the node holding the connection.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// Serves a relayed call on this node: `None` when the connection is not
/// here, else the status and body to answer with.
pub type LocalHandler =
    Arc<dyn Fn(&str, Option<&str>, &str, Bytes) -> Option<(u16, Bytes)> + Send + Sync>;

/// A call as published.
#[derive(Debug, Serialize, Deserialize)]
struct Call {
    id: u64,
    from: String,
    method: String,
    stage: Option<String>,
    connection: String,
    body: String,
}

/// One node's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    id: u64,
    /// `None`: the connection is not on that node.
    status: Option<u16>,
    body: String,
}

/// The relay of one node.
pub struct Relay {
    shared: Arc<Shared>,
    node: String,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, mpsc::UnboundedSender<Answer>>>,
    listening: AtomicBool,
}

impl Relay {
    /// The relay of node `node`.
    pub fn new(shared: Arc<Shared>, node: &str) -> Relay {
        Relay {
            shared,
            node: node.to_owned(),
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            listening: AtomicBool::new(false),
        }
    }

    /// Listens on the relay and reply channels for as long as the process
    /// runs, re-subscribing after Redis comes back.
    pub fn listen(self: &Arc<Self>, local: LocalHandler) {
        let relay = self.clone();
        self.shared.runtime().spawn(async move {
            loop {
                if let Err(error) = relay.listen_once(&local).await {
                    tracing::debug!(%error, "cluster relay: subscription lost");
                }
                relay.listening.store(false, Ordering::Release);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    async fn listen_once(&self, local: &LocalHandler) -> Result<(), ClusterError> {
        let unavailable = |e: redis::RedisError| ClusterError::Unavailable(e.to_string());
        let keys = self.shared.keys();
        let mut pubsub = self
            .shared
            .client()
            .get_async_pubsub()
            .await
            .map_err(unavailable)?;
        pubsub
            .subscribe(keys.relay_channel())
            .await
            .map_err(unavailable)?;
        let replies = keys.reply_channel(&self.node);
        pubsub.subscribe(&replies).await.map_err(unavailable)?;
        self.listening.store(true, Ordering::Release);
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let payload = message.get_payload_bytes();
            if message.get_channel_name() == replies {
                let Ok(answer) = serde_json::from_slice::<Answer>(payload) else {
                    continue;
                };
                let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(tx) = waiting.get(&answer.id) {
                    let _ = tx.send(answer);
                }
            } else if let Ok(call) = serde_json::from_slice::<Call>(payload) {
                let body = Bytes::from(STANDARD.decode(&call.body).unwrap_or_default());
                let outcome = local(&call.method, call.stage.as_deref(), &call.connection, body);
                let answer = Answer {
                    id: call.id,
                    status: outcome.as_ref().map(|(status, _)| *status),
                    body: outcome
                        .map(|(_, body)| STANDARD.encode(body))
                        .unwrap_or_default(),
                };
                let text = serde_json::to_vec(&answer).unwrap_or_default();
                let shared = self.shared.clone();
                let to = keys.reply_channel(&call.from);
                tokio::spawn(async move {
                    let _ = shared.publish(&to, &text).await;
                });
            }
        }
        Err(ClusterError::Unavailable("the subscription ended".into()))
    }

    /// Relays a call to the node holding `connection`: its status and
    /// body, or `None` when no node holds it.
    pub async fn call(
        &self,
        method: &str,
        stage: Option<&str>,
        connection: &str,
        body: Bytes,
    ) -> Result<Option<(u16, Bytes)>, ClusterError> {
        if !self.listening.load(Ordering::Acquire) {
            return Err(ClusterError::Unavailable(
                "not subscribed to the relay channel".into(),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let call = Call {
            id,
            from: self.node.clone(),
            method: method.to_owned(),
            stage: stage.map(str::to_owned),
            connection: connection.to_owned(),
            body: STANDARD.encode(&body),
        };
        let text = serde_json::to_vec(&call).map_err(|e| ClusterError::Invalid(e.to_string()))?;
        let shared = self.shared.clone();
        let channel = self.shared.keys().relay_channel();
        let outcome = async move {
            let heard = shared.publish(&channel, &text).await?;
            let mut absent = 0;
            while absent < heard {
                match tokio::time::timeout(ANSWER_WITHIN, rx.recv()).await {
                    Ok(Some(Answer {
                        status: Some(status),
                        body,
                        ..
                    })) => {
                        let body = STANDARD.decode(body).unwrap_or_default();
                        return Ok(Some((status, Bytes::from(body))));
                    }
                    Ok(Some(_)) => absent += 1,
                    Ok(None) | Err(_) => {
                        return Err(ClusterError::Unavailable(format!(
                            "{} of {heard} nodes did not answer within {ANSWER_WITHIN:?}",
                            heard - absent
                        )));
                    }
                }
            }
            Ok(None)
        };
        // Run where the subscription lives; the caller may be on any runtime.
        let result = self
            .shared
            .runtime()
            .spawn(outcome)
            .await
            .unwrap_or_else(|e| Err(ClusterError::Unavailable(e.to_string())));
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        result
    }
}
