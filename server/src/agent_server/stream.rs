//! The live event stream of one conversation (`/sockets/events/{id}`), reconnecting on its own.
//!
//! Guarantees to its reader: every persisted event exactly once, in order. On a dropped connection it reconnects
//! with `resend_mode=since` and the last timestamp seen (the server resends events at or after it) and drops ids it
//! has already delivered. The `full_state` snapshot the server sends on every connect is delivered once (later ones
//! only as state, see [`StreamItem::Snapshot`]).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::client::{AgentServerError, Endpoint, encode_query};
use super::events::AgentEvent;

#[derive(Debug)]
pub enum StreamItem {
    Event(AgentEvent),
    /// A repeated `full_state` snapshot after a reconnect: state to apply, not an event to log.
    Snapshot(AgentEvent),
    /// The connection dropped; the stream is reconnecting.
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    /// The stream ended for good (bad key, unknown conversation, server gone too long).
    Closed(AgentServerError),
}

/// Handle to a running subscription. Dropping it stops the stream.
pub struct Subscription {
    pub items: mpsc::Receiver<StreamItem>,
    kick: watch::Sender<u64>,
    patient: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// Drops the current connection and reconnects (used when a sandbox is resumed, and by tests).
    pub fn reconnect(&self) {
        self.kick.send_modify(|n| *n += 1);
    }

    /// While patient (its sandbox is paused on purpose), the stream keeps trying to reconnect instead of giving up
    /// after a minute; `reconnect` makes it try at once.
    pub fn set_patient(&self, patient: bool) {
        self.patient.send_replace(patient);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where to resume from: nothing yet, or after what was already delivered (a restarted server replaying its log).
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub last_timestamp: Option<String>,
    pub seen_ids: SeenIds,
    pub snapshot_delivered: bool,
}

/// The ids of every event delivered, as 128-bit fingerprints: a resend (and the live events the server sends while
/// it resends) can repeat any of them. Fingerprints rather than the ids themselves because the set grows with the
/// conversation: growing a set of strings rehashes every id (milliseconds at ten thousand events, and conversations
/// streaming together grow together), while fingerprints are their own hash and only move.
#[derive(Debug, Clone, Default)]
pub struct SeenIds(HashSet<u128, BuildHasherDefault<Fingerprint>>);

impl SeenIds {
    /// True when `id` was not seen before.
    pub fn insert(&mut self, id: &str) -> bool {
        // Two SipHashes of the id, each led by its own word: a false "seen" (which would drop an event) needs both
        // to collide.
        let [a, b] = [0u64, 1].map(|key| {
            let mut h = std::hash::DefaultHasher::new();
            h.write_u64(key);
            h.write(id.as_bytes());
            h.finish()
        });
        self.0.insert((u128::from(a) << 64) | u128::from(b))
    }
}

/// A hasher for keys that already are uniformly distributed hashes.
#[derive(Default)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// How long the stream keeps trying to reconnect before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// tungstenite zero-fills its whole free read buffer (128 KiB by default) before each read of the socket, and paced
/// events arrive one per read: that was a 128 KiB memset per event, 5 % of the relay's CPU. Events are a few KiB;
/// a large observation takes a few reads.
const READ_BUFFER: usize = 16 << 10;

pub fn subscribe(endpoint: Endpoint, conversation_id: String, resume: Resume) -> Subscription {
    // Small: a reader that falls behind should slow the WebSocket (and the agent-server), not fill our memory.
    let (tx, rx) = mpsc::channel(128);
    let (kick, kick_rx) = watch::channel(0u64);
    let (patient, patient_rx) = watch::channel(false);
    let task = tokio::spawn(run(endpoint, conversation_id, resume, tx, kick_rx, patient_rx));
    Subscription { items: rx, kick, patient, task }
}

async fn run(
    endpoint: Endpoint,
    conversation_id: String,
    mut resume: Resume,
    tx: mpsc::Sender<StreamItem>,
    mut kick: watch::Receiver<u64>,
    patient: watch::Receiver<bool>,
) {
    let ws_base = endpoint.base_url.replacen("http", "ws", 1);
    let mut attempt: u32 = 0;
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        let url = match &resume.last_timestamp {
            None => format!("{ws_base}/sockets/events/{conversation_id}?resend_mode=all"),
            Some(ts) => {
                format!(
                    "{ws_base}/sockets/events/{conversation_id}?resend_mode=since&after_timestamp={}",
                    encode_query(ts)
                )
            }
        };
        let outcome = connection(&url, &endpoint, &mut resume, &tx, &mut kick).await;
        let reason = match outcome {
            Ended::ReceiverGone => return,
            Ended::Fatal(err) => {
                let _ = tx.send(StreamItem::Closed(err)).await;
                return;
            }
            Ended::Delivered(reason) => {
                // The connection worked for a while: the next failure starts a fresh budget.
                attempt = 0;
                failing_since = None;
                reason
            }
            Ended::Failed(reason) => reason,
        };
        attempt += 1;
        let waiting = *patient.borrow();
        if waiting {
            failing_since = None;
        }
        let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
        if !waiting && since.elapsed() > GIVE_UP_AFTER {
            let err = AgentServerError::Unreachable { url: endpoint.base_url.clone(), reason };
            let _ = tx.send(StreamItem::Closed(err)).await;
            return;
        }
        tracing::info!(conversation = %conversation_id, attempt, "event stream dropped ({reason}); reconnecting");
        if tx.send(StreamItem::Reconnecting { attempt, reason }).await.is_err() {
            return;
        }
        let backoff = Duration::from_millis((50u64 << attempt.min(5)).min(2000));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = kick.changed() => {}
        }
    }
}

enum Ended {
    /// Events flowed; then the connection ended.
    Delivered(String),
    /// Could not connect or authenticate; worth retrying.
    Failed(String),
    /// Retrying cannot help.
    Fatal(AgentServerError),
    ReceiverGone,
}

async fn connection(
    url: &str,
    endpoint: &Endpoint,
    resume: &mut Resume,
    tx: &mpsc::Sender<StreamItem>,
    kick: &mut watch::Receiver<u64>,
) -> Ended {
    let (mut ws, _) = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(
            url,
            Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER)),
            false,
        ),
    )
    .await
    {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Ended::Failed(format!("connect: {e}")),
        Err(_) => return Ended::Failed("connect timed out".into()),
    };
    // First-frame auth keeps the key out of URLs (and out of any proxy's access log).
    let auth = json!({"type": "auth", "session_api_key": endpoint.session_key.expose()}).to_string();
    if let Err(e) = ws.send(Message::text(auth)).await {
        return Ended::Failed(format!("auth: {e}"));
    }
    kick.mark_unchanged();
    let mut delivered = false;
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = kick.changed() => {
                let _ = ws.close(None).await;
                return Ended::Delivered("reconnect requested".into());
            }
        };
        let text = match frame {
            None => return end(delivered, "connection closed".into()),
            Some(Err(e)) => return end(delivered, e.to_string()),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| f.code);
                return match code {
                    Some(CloseCode::Library(4001)) => Ended::Fatal(AgentServerError::Unauthorized),
                    Some(CloseCode::Library(4004)) => {
                        Ended::Fatal(AgentServerError::NotFound { what: "this conversation's event stream".into() })
                    }
                    _ => end(delivered, format!("closed by the server ({code:?})")),
                };
            }
            Some(Ok(_)) => continue,
        };
        let Some(event) = event_of(text.as_str()) else { continue };
        delivered = true;
        let Some(item) = item_of(event, resume) else { continue };
        if tx.send(item).await.is_err() {
            return Ended::ReceiverGone;
        }
    }
}

/// The event a text frame carries, if it is one.
fn event_of(text: &str) -> Option<AgentEvent> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("ignoring a non-JSON frame on the event stream: {e}");
            return None;
        }
    };
    match AgentEvent::from_json(value) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::debug!("ignoring a frame that is not an event: {e}");
            None
        }
    }
}

/// What an event is for the runner: new (the first snapshot counts as an event, later ones say the state on
/// reconnect), or `None` when it was delivered before.
fn item_of(event: AgentEvent, resume: &mut Resume) -> Option<StreamItem> {
    if event.is_snapshot() {
        return Some(if resume.snapshot_delivered {
            StreamItem::Snapshot(event)
        } else {
            resume.snapshot_delivered = true;
            StreamItem::Event(event)
        });
    }
    if !resume.seen_ids.insert(&event.id) {
        return None;
    }
    // Streaming deltas are never stored, so they cannot anchor a resend.
    if event.kind != "StreamingDeltaEvent" && !event.timestamp.is_empty() {
        resume.last_timestamp = Some(event.timestamp.clone());
    }
    Some(StreamItem::Event(event))
}

fn end(delivered: bool, reason: String) -> Ended {
    if delivered { Ended::Delivered(reason) } else { Ended::Failed(reason) }
}

#[cfg(test)]
mod tests {
    use super::SeenIds;

    #[test]
    fn seen_ids_tell_repeats_from_new_ids() {
        let mut seen = SeenIds::default();
        let ids: Vec<String> = (0..20_000).map(|i| format!("{:08x}-0000-4000-8000-{i:012}", i * 7919)).collect();
        assert!(ids.iter().all(|id| seen.insert(id)), "every distinct id is new");
        assert!(ids.iter().all(|id| !seen.insert(id)), "every id again is a repeat");
        assert!(seen.insert("a-new-one"));
        assert!(!seen.insert("a-new-one"));
    }
}
