//! [`ActionRepository`] in memory, for tests and the local run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ActionPage, ActionRepository, ListFilter, OrderKey, Unsettled};
use crate::actions::record::ActionRecord;
use crate::domain::{ActionKind, OrganizationId};
use crate::store::{Expect, StoreError};

#[derive(Default)]
struct State {
    /// By (org, action id).
    records: BTreeMap<(String, String), ActionRecord>,
    open: BTreeMap<(OrderKey, ActionKind), String>,
    locks: BTreeMap<OrderKey, (String, DateTime<Utc>)>,
    unsettled: BTreeMap<(String, String), ()>,
    settle_resume: Option<String>,
}

#[derive(Default)]
pub struct MemoryActions {
    state: Mutex<State>,
}

impl MemoryActions {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ActionRepository for MemoryActions {
    async fn get(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<Option<ActionRecord>, StoreError> {
        Ok(self
            .state()
            .records
            .get(&(org.to_string(), action_id.to_owned()))
            .cloned())
    }

    async fn of_contact(
        &self,
        org: &OrganizationId,
        contact_email: &str,
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let state = self.state();
        Ok(state
            .records
            .values()
            .rev()
            .filter(|r| r.org_id == *org && r.contact_email == contact_email)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn put(&self, record: &ActionRecord, expect: Expect) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (record.org_id.to_string(), record.action_id.clone());
        let stored = state.records.get(&key).map(|r| r.version);
        let holds = match expect {
            Expect::Absent => stored.is_none(),
            Expect::Version(v) => stored == Some(v),
        };
        if !holds {
            return Err(StoreError::Conflict);
        }
        state.records.insert(key, record.clone());
        Ok(())
    }

    async fn list(
        &self,
        org: &OrganizationId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ActionPage, StoreError> {
        let state = self.state();
        let org = org.to_string();
        let mut actions = Vec::new();
        let mut next_cursor = None;
        let mut last: Option<&str> = None;
        let mut scanned = 0;
        for ((o, id), record) in state.records.iter().rev() {
            if *o != org || cursor.is_some_and(|c| id.as_str() >= c) {
                continue;
            }
            if scanned == limit {
                next_cursor = last.map(str::to_owned);
                break;
            }
            scanned += 1;
            last = Some(id);
            if filter.admits(record) {
                actions.push(record.clone());
            }
        }
        Ok(ActionPage {
            actions,
            next_cursor,
        })
    }

    async fn swap_open(
        &self,
        order: &OrderKey,
        kind: ActionKind,
        action_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .state()
            .open
            .insert((order.clone(), kind), action_id.to_owned()))
    }

    async fn lock_order(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.locks.get(order) {
            Some((holder, lapses)) if holder != action_id && *lapses > now => Ok(false),
            Some((holder, lapses)) if holder == action_id && *lapses >= until => Ok(true),
            _ => {
                state
                    .locks
                    .insert(order.clone(), (action_id.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn unlock_order(&self, order: &OrderKey, action_id: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.locks.get(order).is_some_and(|(h, _)| h == action_id) {
            state.locks.remove(order);
        }
        Ok(())
    }

    async fn release_lease(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        if state
            .locks
            .get(order)
            .is_some_and(|(h, lapses)| h == action_id && *lapses == until)
        {
            state.locks.remove(order);
        }
        Ok(())
    }

    async fn mark_unsettled(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<(), StoreError> {
        self.state()
            .unsettled
            .insert((org.to_string(), action_id.to_owned()), ());
        Ok(())
    }

    async fn clear_unsettled(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<(), StoreError> {
        self.state()
            .unsettled
            .remove(&(org.to_string(), action_id.to_owned()));
        Ok(())
    }

    async fn unsettled(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Unsettled>, Option<String>), StoreError> {
        let state = self.state();
        let mut page = Vec::new();
        let mut next = None;
        for (org, id) in state.unsettled.keys() {
            let at = format!("{org}\n{id}");
            if cursor.is_some_and(|c| at.as_str() <= c) {
                continue;
            }
            if page.len() == limit {
                next = page.last().map(|u: &Unsettled| u.position.clone());
                break;
            }
            let Ok(org) = OrganizationId::parse(org) else {
                continue;
            };
            page.push(Unsettled {
                org,
                action_id: id.clone(),
                position: at,
            });
        }
        Ok((page, next))
    }

    async fn settle_resume(&self) -> Result<Option<String>, StoreError> {
        Ok(self.state().settle_resume.clone())
    }

    async fn set_settle_resume(&self, position: Option<&str>) -> Result<(), StoreError> {
        self.state().settle_resume = position.map(str::to_owned);
        Ok(())
    }
}
