//! A TCP proxy that tests put in front of RabbitMQ or PostgreSQL to simulate an outage:
//! `break_all` cuts every connection and refuses new ones until `restore`; `outage`
//! does both for a while, as a server restart does. Cut and refused connections are
//! reset (RST), as a peer that went away answers. `stall` accepts new connections but
//! passes nothing through (a server that hangs).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct ChaosProxy {
    addr: SocketAddr,
    broken: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    refused: Arc<AtomicU64>,
}

impl ChaosProxy {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let broken = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let (generation, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let stalled = Arc::new(AtomicBool::new(false));
        let (b, r, st) = (
            Arc::clone(&broken),
            Arc::clone(&refused),
            Arc::clone(&stalled),
        );
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if b.load(Ordering::SeqCst) {
                    r.fetch_add(1, Ordering::Relaxed);
                    let _ = inbound.set_zero_linger();
                    drop(inbound);
                    continue;
                }
                let mut cut = gen_tx.subscribe();
                if st.load(Ordering::SeqCst) {
                    // Hold the socket open and silent until the next break or restore.
                    tokio::spawn(async move {
                        let _held = inbound;
                        let _ = cut.changed().await;
                    });
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        let _ = inbound.set_zero_linger();
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {
                            let _ = inbound.set_zero_linger();
                            let _ = outbound.set_zero_linger();
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            broken,
            stalled,
            generation,
            refused,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts every open connection and refuses new ones.
    pub fn break_all(&self) {
        self.broken.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Cuts every open connection; new ones are accepted but hang, unanswered.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.broken.store(false, Ordering::SeqCst);
        // Release the sockets a stall holds; live connections are left alone.
        if self.stalled.swap(false, Ordering::SeqCst) {
            self.generation.send_modify(|g| *g += 1);
        }
    }

    /// A server restart seen from its clients: every open connection is reset and new
    /// ones are refused for `down`, then the server answers again.
    pub async fn outage(&self, down: Duration) {
        self.break_all();
        tokio::time::sleep(down).await;
        self.restore();
    }

    /// Connections refused while broken, so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}
