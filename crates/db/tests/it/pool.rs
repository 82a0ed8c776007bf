//! A pool that skips the checkout round trip still never hands out a connection whose
//! server side is gone, and runs statements without parallel workers when asked.

use crate::support::{test_db, within};
use calsync_db::{build_pool, PoolSettings};
use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[tokio::test]
async fn an_unverified_pool_replaces_a_connection_whose_backend_was_terminated() {
    let db = test_db().await;
    let mut settings = PoolSettings::new(db.url(), "pool-test");
    settings.max_size = 1;
    settings.verify_on_checkout = false;
    settings.serial_statements = true;
    let pool = build_pool(&settings).expect("pool");
    let pid = {
        let mut c = within("checkout", pool.get()).await.expect("conn");
        let p: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result(&mut c)
            .await
            .expect("pid");
        let s: Setting =
            diesel::sql_query("SELECT current_setting('max_parallel_workers_per_gather') AS value")
                .get_result(&mut c)
                .await
                .expect("setting");
        assert_eq!(s.value, "0");
        p.pid
    };
    let mut admin = db.pool().get().await.expect("admin");
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut admin)
        .await
        .expect("terminate");
    // The closed socket marks the pooled connection broken; the next checkout gets a new one.
    let mut answered = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut c = within("checkout", pool.get()).await.expect("conn");
        if let Ok(p) = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut c)
            .await
        {
            answered = Some(p.pid);
            break;
        }
    }
    let new_pid = answered.expect("a working connection after the backend was terminated");
    assert_ne!(new_pid, pid);
}
