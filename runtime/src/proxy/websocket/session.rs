//! An open WebSocket connection, from the 101 to `$disconnect`: frames
//! and messages (RFC 6455, by `tungstenite`) within the API's size limits,
//! messages served one at a time in order, pushes from `@connections`
//! written as they come, keep-alive pings, the idle timeout and maximum
//! duration, and close frames both ways.
//!
//! How it ends decides the close code: the client's own close; 1001 for
//! the idle timeout, the maximum duration and the gateway shutting down;
//! 1000 for `DELETE @connections`; 1008 for a slow reader; 1009 for a
//! frame or message over the limit; 1002 and 1007 for protocol errors and
//! text that is not UTF-8; 1006 (reported, never sent) for a client that
//! just went away. `$disconnect` is called in every case.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

use super::Accepted;
use super::messages::{self, Outcome};
use crate::control::Gateway;
use crate::control::connections::ConnectionHandle;

/// How long one write may wait for the client to read before the client
/// counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the gateway waits for the client's reply to its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// What the gateway reads from the socket at once. Small: an idle
/// connection keeps this buffer, and messages larger than it are read in
/// several steps into a buffer of their own size.
const READ_BUFFER: usize = 4 * 1024;

/// How a connection ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The client sent a close frame with this code (1005: none).
    Client(u16),
    /// The gateway closes with this code.
    Gateway(u16),
    /// The connection broke, or the client stopped answering.
    Lost,
}

/// Serves the accepted connection on `io` until it ends, then calls
/// `$disconnect`. `stop` changes when the gateway shuts down.
pub async fn run<T>(
    io: T,
    accepted: Box<Accepted>,
    gateway: Arc<Gateway>,
    mut stop: watch::Receiver<()>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    let settings = accepted.caller.settings.clone();
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_frame_size(Some(settings.max_frame_bytes))
        .max_message_size(Some(settings.max_message_bytes));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let Accepted {
        caller: conn,
        handle,
        mut queue,
        registered,
    } = crate::util::unbox(accepted);
    let metrics = crate::observe::Metrics::global().websocket(&conn.api, &conn.stage);
    let _open = metrics.open.hold();
    let deadline = tokio::time::sleep(settings.max_duration);
    tokio::pin!(deadline);
    let idle = tokio::time::sleep(settings.idle_timeout);
    tokio::pin!(idle);
    let pinging = settings.ping_interval.is_some();
    let ping_every = settings.ping_interval.unwrap_or(settings.max_duration);
    let ping = tokio::time::sleep(ping_every);
    tokio::pin!(ping);
    let mut awaiting_pong = false;
    let ending = loop {
        tokio::select! {
            biased;
            code = handle.closed() => break Ending::Gateway(code),
            _ = stop.changed() => break Ending::Gateway(1001),
            incoming = ws.next() => {
                let (data, text) = match incoming {
                    None => break Ending::Lost,
                    Some(Err(error)) => break failure(&error),
                    Some(Ok(Message::Text(t))) => (bytes::Bytes::from(t), true),
                    Some(Ok(Message::Binary(b))) => (b, false),
                    Some(Ok(Message::Ping(_))) => {
                        // Answered by tungstenite; the client is there.
                        idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                        continue;
                    }
                    Some(Ok(Message::Pong(_))) => {
                        awaiting_pong = false;
                        continue;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // tungstenite queued the reply; send it.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.flush()).await;
                        break Ending::Client(frame.map_or(1005, |f| u16::from(f.code)));
                    }
                    Some(Ok(Message::Frame(_))) => continue,
                };
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                handle.touch();
                metrics.messages_in.inc();
                // Boxed: the call's state (an integration's request) exists
                // while a message is served, not for the connection's life.
                match Box::pin(messages::on_message(&gateway, &conn, data, text)).await {
                    Outcome::Quiet => {}
                    Outcome::Gone => break Ending::Gateway(1001),
                    Outcome::Reply(data, text) => {
                        metrics.messages_out.inc();
                        if let Err(ending) = write(&mut ws, &handle, message(data, text)).await {
                            break ending;
                        }
                    }
                }
            }
            Some(crate::control::connections::Outbound::Message(data, text)) = queue.recv() => {
                let len = data.len();
                metrics.messages_out.inc();
                let written = write(&mut ws, &handle, message(data, text)).await;
                handle.written(len);
                if let Err(ending) = written {
                    break ending;
                }
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                handle.touch();
            }
            () = &mut idle => break Ending::Gateway(1001),
            () = &mut deadline => break Ending::Gateway(1001),
            () = &mut ping, if pinging => {
                if awaiting_pong {
                    break Ending::Lost;
                }
                if let Err(ending) = write(&mut ws, &handle, Message::Ping(bytes::Bytes::new())).await {
                    break ending;
                }
                awaiting_pong = true;
                ping.as_mut().reset(Instant::now() + ping_every);
            }
        }
    };
    let code = match ending {
        Ending::Client(code) => code,
        Ending::Lost => 1006,
        Ending::Gateway(code) => {
            Box::pin(close(&mut ws, code)).await;
            code
        }
    };
    // Gone from @connections before $disconnect runs, as in API Gateway.
    drop(registered);
    drop(queue);
    drop(ws);
    Box::pin(messages::on_disconnect(&gateway, &conn, code)).await;
}

fn message(data: bytes::Bytes, text: bool) -> Message {
    match text.then(|| tokio_tungstenite::tungstenite::Utf8Bytes::try_from(data.clone())) {
        Some(Ok(text)) => Message::Text(text),
        _ => Message::Binary(data),
    }
}

/// The close code a read error calls for.
fn failure(error: &Error) -> Ending {
    match error {
        Error::Capacity(_) => Ending::Gateway(1009),
        Error::Utf8(_) => Ending::Gateway(1007),
        Error::Protocol(_) => Ending::Gateway(1002),
        _ => Ending::Lost,
    }
}

/// Writes one message, unless the client stops reading for
/// [`WRITE_TIMEOUT`] or a close is asked for meanwhile.
async fn write<T>(
    ws: &mut WebSocketStream<T>,
    handle: &ConnectionHandle,
    message: Message,
) -> Result<(), Ending>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    tokio::select! {
        sent = tokio::time::timeout(WRITE_TIMEOUT, ws.send(message)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ending::Lost),
            Err(_) => Err(Ending::Gateway(crate::control::connections::CLOSE_SLOW_READER)),
        },
        code = handle.closed() => Err(Ending::Gateway(code)),
    }
}

/// Sends a close frame with `code` and waits (briefly) for the client's.
async fn close<T>(ws: &mut WebSocketStream<T>, code: u16)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let reason = match code {
        1000 => "Goodbye",
        1001 => "Going away",
        1008 => "Slow reader",
        1009 => "Message too big",
        1007 => "Invalid UTF-8",
        _ => "Protocol error",
    };
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        let answered = loop {
            match ws.next().await {
                Some(Ok(_)) => continue,
                None | Some(Err(Error::ConnectionClosed)) => break true,
                Some(Err(_)) => break false,
            }
        };
        if !answered {
            // After a broken frame the protocol reads no further, but the
            // client may still be sending: read its bytes away until it
            // closes, or closing with data unread would reset the
            // connection and could destroy the close frame on its way.
            let mut sink = [0u8; 4096];
            while let Ok(1..) = tokio::io::AsyncReadExt::read(ws.get_mut(), &mut sink).await {}
        }
    })
    .await;
}
