//! One user's mailbox: calendars and events, and the create / update / delete rules of
//! series (an edited occurrence becomes an exception, a deleted one is cancelled).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::GraphError;
use super::model::{new_change_key, new_id, Actor, Event, Kind};
use super::view::{parse_occurrence_id, Instance};

#[derive(Debug, Clone)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

/// What a change notification reports.
#[derive(Debug, Clone)]
pub struct Change {
    pub event_id: String,
    pub calendar_id: String,
    pub change_type: &'static str,
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub user_id: String,
    pub upn: String,
    pub display_name: String,
    pub calendars: Vec<Calendar>,
    pub events: BTreeMap<String, Event>,
    transactions: HashMap<String, String>,
}

impl Mailbox {
    pub fn new(upn: &str) -> Self {
        let display_name = upn.split('@').next().unwrap_or(upn).to_owned();
        Self {
            user_id: uuid::Uuid::new_v4().to_string(),
            upn: upn.to_owned(),
            display_name,
            calendars: vec![Calendar {
                id: new_id(),
                name: "Calendar".into(),
                is_default: true,
            }],
            events: BTreeMap::new(),
            transactions: HashMap::new(),
        }
    }

    pub fn default_calendar(&self) -> &str {
        self.calendars
            .iter()
            .find(|c| c.is_default)
            .map_or("", |c| c.id.as_str())
    }

    /// The calendar a request names (`None` → the default one); unknown → 404.
    pub fn calendar(&self, id: Option<&str>) -> Result<String, GraphError> {
        match id {
            None => Ok(self.default_calendar().to_owned()),
            Some(id) => self
                .calendars
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.id.clone())
                .ok_or_else(GraphError::item_not_found),
        }
    }

    pub fn add_calendar(&mut self, name: &str) -> String {
        let id = new_id();
        self.calendars.push(Calendar {
            id: id.clone(),
            name: name.to_owned(),
            is_default: false,
        });
        id
    }

    pub fn calendar_json(&self, c: &Calendar) -> Value {
        json!({
            "id": c.id,
            "name": c.name,
            "color": "auto",
            "isDefaultCalendar": c.is_default,
            "changeKey": "calendar",
            "canShare": true,
            "canViewPrivateItems": true,
            "canEdit": true,
            "owner": {"name": self.display_name, "address": self.upn},
        })
    }

    fn organizer(&self) -> Value {
        json!({"emailAddress": {"name": self.display_name, "address": self.upn}})
    }

    /// Creates an event; a repeated `transactionId` returns the first event and no change.
    pub fn create(
        &mut self,
        calendar: Option<&str>,
        body: &Value,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(Instance, Option<Change>), GraphError> {
        let calendar_id = self.calendar(calendar)?;
        if let Some(tx) = body.get("transactionId").and_then(Value::as_str) {
            if let Some(existing) = self.transactions.get(tx).and_then(|id| self.events.get(id)) {
                return Ok((Instance::of_event(existing), None));
            }
        }
        let event = Event::create(&calendar_id, body, actor, self.organizer(), now)?;
        if let Some(tx) = &event.transaction_id {
            self.transactions.insert(tx.clone(), event.id.clone());
        }
        let change = change_of(&event, "created");
        let inst = Instance::of_event(&event);
        self.events.insert(event.id.clone(), event);
        Ok((inst, Some(change)))
    }

    /// An event, occurrence or exception by id, within `calendar` when one is named.
    pub fn get(&self, calendar: Option<&str>, id: &str) -> Result<Instance, GraphError> {
        let inst = if let Some(event) = self.events.get(id) {
            Instance::of_event(event)
        } else {
            let (master_id, date) =
                parse_occurrence_id(id).ok_or_else(GraphError::item_not_found)?;
            let master = self
                .events
                .get(master_id)
                .ok_or_else(GraphError::item_not_found)?;
            match &master.kind {
                Kind::Master {
                    recurrence,
                    cancelled,
                } if recurrence.is_occurrence(date) && !cancelled.contains(&date) => {
                    Instance::occurrence(master, date)
                }
                _ => return Err(GraphError::item_not_found()),
            }
        };
        match calendar {
            Some(c) if inst.event.calendar_id != c => Err(GraphError::item_not_found()),
            _ => Ok(inst),
        }
    }

    pub fn update(
        &mut self,
        calendar: Option<&str>,
        id: &str,
        body: &Value,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(Instance, Change), GraphError> {
        let inst = self.get(calendar, id)?;
        let mut event = match inst.kind {
            super::view::InstKind::Occurrence => {
                let master = &inst.event;
                let mut exception = master.clone();
                exception.id = inst.id.clone();
                exception.kind = Kind::Exception {
                    master_id: master.id.clone(),
                    original_date: inst.start.local.date(),
                    original_start: inst.start_utc,
                };
                exception.start = inst.start.clone();
                exception.end = inst.end.clone();
                exception.transaction_id = None;
                exception.created = now;
                exception.change_key = new_change_key();
                exception
            }
            _ => inst.event.clone(),
        };
        event.patch(body, actor, now)?;
        let change = change_of(&event, "updated");
        let out = Instance::of_event(&event);
        self.events.insert(event.id.clone(), event);
        Ok((out, change))
    }

    pub fn delete(
        &mut self,
        calendar: Option<&str>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, GraphError> {
        let inst = self.get(calendar, id)?;
        match inst.kind {
            super::view::InstKind::Single => {
                self.events.remove(id);
                Ok(change_of(&inst.event, "deleted"))
            }
            super::view::InstKind::SeriesMaster => {
                self.events.retain(
                    |_, e| !matches!(&e.kind, Kind::Exception { master_id, .. } if master_id == id),
                );
                self.events.remove(id);
                Ok(change_of(&inst.event, "deleted"))
            }
            super::view::InstKind::Occurrence | super::view::InstKind::Exception => {
                let master_id = inst.series_master_id.clone().unwrap_or_default();
                let date = match &inst.event.kind {
                    Kind::Exception { original_date, .. } => *original_date,
                    _ => inst.start.local.date(),
                };
                if inst.kind == super::view::InstKind::Exception {
                    self.events.remove(id);
                }
                let master = self
                    .events
                    .get_mut(&master_id)
                    .ok_or_else(GraphError::item_not_found)?;
                if let Kind::Master { cancelled, .. } = &mut master.kind {
                    cancelled.insert(date);
                }
                master.modified = now;
                Ok(Change {
                    event_id: id.to_owned(),
                    calendar_id: master.calendar_id.clone(),
                    change_type: "deleted",
                    etag: master.etag(),
                })
            }
        }
    }
}

fn change_of(event: &Event, change_type: &'static str) -> Change {
    Change {
        event_id: event.id.clone(),
        calendar_id: event.calendar_id.clone(),
        change_type,
        etag: event.etag(),
    }
}
