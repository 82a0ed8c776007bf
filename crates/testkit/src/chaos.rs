//! A TCP proxy that tests put in front of RabbitMQ or PostgreSQL to simulate an outage:
//! `break_all` cuts every connection and refuses new ones until `restore`; `stall`
//! accepts new connections but passes nothing through (a server that hangs).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct ChaosProxy {
    addr: SocketAddr,
    broken: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl ChaosProxy {
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let broken = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let stalled = Arc::new(AtomicBool::new(false));
        let (b, st) = (Arc::clone(&broken), Arc::clone(&stalled));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if b.load(Ordering::SeqCst) {
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
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Self {
            addr,
            broken,
            stalled,
            generation,
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
        self.stalled.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }
}
