//! Hand-written statements that each connection prepares once. `diesel::sql_query`
//! marks every statement unsafe to cache, so PostgreSQL parses and plans it on every
//! call. The lease and request statements run several times per sync, and at 370 syncs/s
//! their planning took about a third of the database's CPU (pg_stat_statements:
//! `plans == calls`). A `Prepared` statement is cached by its SQL text in diesel's
//! per-connection statement cache, like the query builder's statements.
//!
//! The SQL names its parameters `$1`, `$2` … as with `sql_query`; each placeholder is
//! bound to the value given at that position (a parameter used twice is sent twice).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;
use std::borrow::Cow;
use std::marker::PhantomData;

/// A statement written by hand, prepared once per connection.
#[must_use = "a statement runs only when loaded or executed"]
pub struct Prepared<'a> {
    sql: Cow<'static, str>,
    binds: Vec<Box<dyn QueryFragment<Pg> + Send + 'a>>,
}

/// A statement with `$n` placeholders; bind its values in order with `bind`.
pub fn prepared(sql: impl Into<Cow<'static, str>>) -> Prepared<'static> {
    Prepared {
        sql: sql.into(),
        binds: Vec::new(),
    }
}

impl<'a> Prepared<'a> {
    /// Binds the next parameter (`$1` first), as `SqlQuery::bind` does.
    pub fn bind<ST, V>(mut self, value: V) -> Prepared<'a>
    where
        Pg: HasSqlType<ST>,
        ST: Send + 'a,
        V: ToSql<ST, Pg> + Send + 'a,
    {
        self.binds.push(Box::new(Param::<ST, V> {
            value,
            sql_type: PhantomData,
        }));
        self
    }
}

struct Param<ST, V> {
    value: V,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST, V> QueryFragment<Pg> for Param<ST, V>
where
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.value)
    }
}

/// The SQL split at its placeholders: text, then the 1-based parameter that follows it.
fn pieces(sql: &str) -> impl Iterator<Item = (&str, Option<usize>)> {
    let mut rest = sql;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let text = &rest[..i];
                    let n = rest[i + 1..i + 1 + digits].parse().ok();
                    rest = &rest[i + 1 + digits..];
                    return Some((text, n));
                }
            }
            i += 1;
        }
        let text = rest;
        rest = "";
        Some((text, None))
    })
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for (text, param) in pieces(&self.sql) {
            out.push_sql(text);
            if let Some(n) = param {
                let bind = n
                    .checked_sub(1)
                    .and_then(|i| self.binds.get(i))
                    .ok_or_else(|| {
                        diesel::result::Error::QueryBuilderError(
                            format!("${n} has no bound value").into(),
                        )
                    })?;
                bind.walk_ast(out.reborrow())?;
            }
        }
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Cached by its SQL text, not by type: every `Prepared` has the same type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn placeholders_split_the_text_and_name_their_parameter() {
        let got: Vec<_> = pieces("SELECT $1, $12 FROM t WHERE a = $2").collect();
        assert_eq!(
            got,
            vec![
                ("SELECT ", Some(1)),
                (", ", Some(12)),
                (" FROM t WHERE a = ", Some(2)),
            ]
        );
        let plain: Vec<_> = pieces("SELECT '$' || x").collect();
        assert_eq!(plain, vec![("SELECT '$' || x", None)]);
    }
}
