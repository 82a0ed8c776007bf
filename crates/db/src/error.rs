//! Storage errors, classified once so every service maps them to HTTP the same way.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("not found")]
    NotFound,
    /// A named constraint refused the write (unique key, exclusion, check, foreign key).
    #[error("constraint {constraint} refused the write")]
    Conflict { constraint: String },
    /// The pool could not hand out a connection in time, or the server is unreachable.
    /// The cause stays a source (not a string) so logs show the whole chain.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(DieselError),
}

/// The exclusion constraint that keeps confirmed appointments apart.
pub const APPOINTMENTS_NO_OVERLAP: &str = "appointments_no_overlap";

impl DbError {
    /// Whether this is the given named constraint refusing a write.
    pub fn is_constraint(&self, name: &str) -> bool {
        matches!(self, DbError::Conflict { constraint } if constraint == name)
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                // Exclusion violations (SQLSTATE 23P01) have no DatabaseErrorKind of their
                // own, so match on the constraint name, which is always set for them.
                match (kind, info.constraint_name()) {
                    (
                        DatabaseErrorKind::UniqueViolation
                        | DatabaseErrorKind::ForeignKeyViolation
                        | DatabaseErrorKind::CheckViolation
                        | DatabaseErrorKind::Unknown,
                        Some(c),
                    ) => DbError::Conflict {
                        constraint: c.to_owned(),
                    },
                    (DatabaseErrorKind::ClosedConnection, _) => {
                        DbError::Unavailable(info.message().to_owned().into())
                    }
                    (kind, _) => DbError::Query(DieselError::DatabaseError(kind, info)),
                }
            }
            other => DbError::Query(other),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for DbError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        DbError::Unavailable(Box::new(e))
    }
}
