//! `schema.rs` matches the migrated catalog: the same tables, the same columns, and
//! each column with the SQL type and nullability diesel believes it has.

use crate::support::{conn, test_db, within};
use calsync_db::schema::{
    appointments, availability_rules, booking_idempotency_keys, calendar_connections,
    calendar_writes, connection_calendars, external_events, oauth_states_used, specialists,
};
use diesel::sql_types::{is_nullable, Text};
use diesel::{Column, Expression, Table};
use diesel_async::RunQueryDsl;
use std::collections::BTreeMap;

/// A column as diesel declares it: name, nullability, PostgreSQL type name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Declared {
    name: &'static str,
    nullable: bool,
    pg_type: String,
}

trait NullFlag {
    const NULLABLE: bool;
}
impl NullFlag for is_nullable::IsNullable {
    const NULLABLE: bool = true;
}
impl NullFlag for is_nullable::NotNull {
    const NULLABLE: bool = false;
}

/// information_schema's `data_type` for the diesel SQL type named by `rust_type`.
fn pg_type_name(rust_type: &str) -> String {
    let inner = rust_type
        .strip_prefix("diesel::sql_types::Nullable<")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(rust_type);
    let last = inner.rsplit("::").next().unwrap_or(inner);
    match last {
        "Uuid" => "uuid",
        "Text" | "VarChar" => "text",
        "Timestamptz" => "timestamp with time zone",
        "Time" => "time without time zone",
        "BigInt" => "bigint",
        "Integer" => "integer",
        "SmallInt" => "smallint",
        "Bool" => "boolean",
        "Jsonb" => "jsonb",
        "Binary" => "bytea",
        other => other,
    }
    .to_owned()
}

trait Describe {
    fn describe() -> Declared;
}
impl<C> Describe for C
where
    C: Column,
    <C as Expression>::SqlType: diesel::sql_types::SqlType,
    <<C as Expression>::SqlType as diesel::sql_types::SqlType>::IsNull: NullFlag,
{
    fn describe() -> Declared {
        Declared {
            name: C::NAME,
            nullable: <<C as Expression>::SqlType as diesel::sql_types::SqlType>::IsNull::NULLABLE,
            pg_type: pg_type_name(std::any::type_name::<<C as Expression>::SqlType>()),
        }
    }
}

/// Walks a table's `all_columns` tuple.
trait Columns {
    fn describe_all(out: &mut Vec<Declared>);
}
macro_rules! impl_columns {
    ($($c:ident),+) => {
        impl<$($c: Describe),+> Columns for ($($c,)+) {
            fn describe_all(out: &mut Vec<Declared>) {
                $(out.push($c::describe());)+
            }
        }
    };
}
macro_rules! impl_all_arities {
    ($head:ident $(, $rest:ident)*) => {
        impl_columns!($head $(, $rest)*);
        impl_all_arities!($($rest),*);
    };
    () => {};
}
impl_all_arities!(
    C40, C39, C38, C37, C36, C35, C34, C33, C32, C31, C30, C29, C28, C27, C26, C25, C24, C23, C22,
    C21, C20, C19, C18, C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1
);

fn declared<T: Table>() -> Vec<Declared>
where
    T::AllColumns: Columns,
{
    let mut out = Vec::new();
    T::AllColumns::describe_all(&mut out);
    out.sort();
    out
}

#[derive(diesel::QueryableByName)]
struct CatalogColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[tokio::test]
async fn the_diesel_schema_matches_the_migrated_catalog() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let rows: Vec<CatalogColumn> = within(
        "reading information_schema",
        diesel::sql_query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
               FROM information_schema.columns
              WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(&mut c),
    )
    .await
    .expect("catalog");
    let mut migrated: BTreeMap<String, Vec<Declared>> = BTreeMap::new();
    for r in rows {
        // Leaking is fine in a test and lets catalog and diesel rows share one type.
        let name: &'static str = Box::leak(r.column_name.into_boxed_str());
        migrated.entry(r.table_name).or_default().push(Declared {
            name,
            nullable: r.is_nullable == "YES",
            pg_type: r.data_type,
        });
    }
    migrated.values_mut().for_each(|cols| cols.sort());

    let diesel_tables: BTreeMap<String, Vec<Declared>> = [
        ("specialists", declared::<specialists::table>()),
        (
            "availability_rules",
            declared::<availability_rules::table>(),
        ),
        ("appointments", declared::<appointments::table>()),
        (
            "calendar_connections",
            declared::<calendar_connections::table>(),
        ),
        (
            "connection_calendars",
            declared::<connection_calendars::table>(),
        ),
        ("external_events", declared::<external_events::table>()),
        ("oauth_states_used", declared::<oauth_states_used::table>()),
        (
            "booking_idempotency_keys",
            declared::<booking_idempotency_keys::table>(),
        ),
        ("calendar_writes", declared::<calendar_writes::table>()),
    ]
    .into_iter()
    .map(|(t, cols)| (t.to_owned(), cols))
    .collect();

    assert_eq!(
        migrated.keys().collect::<Vec<_>>(),
        diesel_tables.keys().collect::<Vec<_>>(),
        "tables differ between migrations and schema.rs"
    );
    for (table, cols) in &diesel_tables {
        assert_eq!(
            cols, &migrated[table],
            "columns of {table} differ (left: schema.rs, right: database)"
        );
    }
    assert_eq!(
        diesel_tables["calendar_connections"].len(),
        30,
        "the tuple walk sees every column"
    );
}
