//! A hostile peer: it speaks just enough BitTorrent (handshake, BEP 10 extension handshake,
//! BEP 9 `ut_metadata`) to hand out the info dictionary it was given, whatever it says. A
//! magnet whose hash is that dictionary's SHA-1 gets exactly those bytes as its metadata: the
//! way a real attacker would ship a torrent that lies about its lengths.

use std::net::SocketAddr;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::torrent::hex;

const PROTOCOL: &[u8] = b"BitTorrent protocol";
const EXTENDED: u8 = 20;
/// The id under which this peer receives `ut_metadata` messages.
const OUR_UT_METADATA: u8 = 3;
const METADATA_PIECE: usize = 16 * 1024;

pub struct MetadataPeer {
    pub addr: SocketAddr,
    pub info_hash: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetadataPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MetadataPeer {
    /// Serves `info` (a bencoded info dictionary) to every peer that asks, on 127.0.0.1.
    pub async fn start(info: Vec<u8>) -> MetadataPeer {
        let info_hash: [u8; 20] = Sha1::digest(&info).into();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let info = info.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, info_hash, &info).await;
                });
            }
        });
        MetadataPeer {
            addr,
            info_hash: hex(&info_hash),
            task,
        }
    }

    pub fn magnet(&self) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn=hostile&x.pe={}",
            self.info_hash, self.addr
        )
    }
}

async fn serve(mut stream: TcpStream, info_hash: [u8; 20], info: &[u8]) -> std::io::Result<()> {
    let mut theirs = [0u8; 68];
    stream.read_exact(&mut theirs).await?;
    let mut handshake = vec![PROTOCOL.len() as u8];
    handshake.extend_from_slice(PROTOCOL);
    let mut reserved = [0u8; 8];
    reserved[5] |= 0x10; // BEP 10: extension protocol
    handshake.extend_from_slice(&reserved);
    handshake.extend_from_slice(&info_hash);
    handshake.extend_from_slice(b"-XX0001-hostilepeer!");
    stream.write_all(&handshake).await?;
    let ours = format!(
        "d1:md11:ut_metadatai{OUR_UT_METADATA}ee13:metadata_sizei{}ee",
        info.len()
    );
    send_extended(&mut stream, 0, ours.as_bytes()).await?;
    let mut their_ut_metadata = None;
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue; // keep-alive
        }
        let mut message = vec![0u8; len.min(1 << 20)];
        stream.read_exact(&mut message).await?;
        if message[0] != EXTENDED || message.len() < 2 {
            continue;
        }
        let payload = &message[2..];
        match message[1] {
            0 => their_ut_metadata = ut_metadata_id(payload),
            OUR_UT_METADATA => {
                let (Some(reply_id), Some(piece)) = (their_ut_metadata, requested_piece(payload))
                else {
                    continue;
                };
                let start = (piece * METADATA_PIECE).min(info.len());
                let end = (start + METADATA_PIECE).min(info.len());
                let mut reply = format!(
                    "d8:msg_typei1e5:piecei{piece}e10:total_sizei{}ee",
                    info.len()
                )
                .into_bytes();
                reply.extend_from_slice(&info[start..end]);
                send_extended(&mut stream, reply_id, &reply).await?;
            }
            _ => {}
        }
    }
}

async fn send_extended(stream: &mut TcpStream, id: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut message = ((payload.len() + 2) as u32).to_be_bytes().to_vec();
    message.push(EXTENDED);
    message.push(id);
    message.extend_from_slice(payload);
    stream.write_all(&message).await
}

/// The id the other side gave `ut_metadata` in its extension handshake.
fn ut_metadata_id(handshake: &[u8]) -> Option<u8> {
    let key = b"11:ut_metadatai";
    let at = find(handshake, key)? + key.len();
    let end = at + handshake[at..].iter().position(|b| *b == b'e')?;
    std::str::from_utf8(&handshake[at..end]).ok()?.parse().ok()
}

/// The piece a `ut_metadata` request (msg_type 0) asks for.
fn requested_piece(request: &[u8]) -> Option<usize> {
    find(request, b"8:msg_typei0e")?;
    let key = b"5:piecei";
    let at = find(request, key)? + key.len();
    let end = at + request[at..].iter().position(|b| *b == b'e')?;
    std::str::from_utf8(&request[at..end]).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
