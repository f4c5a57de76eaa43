//! JoinGroup and the rebalance it drives: new, known and static members joining,
//! PreparingRebalance until every member has rejoined (or the rebalance timeout), the
//! protocol every member supports, the leader's JoinGroup response carrying the members.

use bytes::Bytes;

use super::{
    errors, Effect, Group, GroupConfig, GroupEvent, GroupState, JoinMemberInfo, JoinRequest,
    JoinResponse, Member, SyncResponse,
};

impl Group {
    pub fn join(&mut self, req: JoinRequest, now: i64, cfg: &GroupConfig) -> Vec<Effect> {
        let mut fx = Vec::new();
        let reply_err = |fx: &mut Vec<Effect>, code: i16, member: &str| {
            fx.push(Effect::Join {
                waiter: req.waiter,
                response: JoinResponse::error(code, member),
            })
        };
        if self.state == GroupState::Dead {
            reply_err(&mut fx, errors::COORDINATOR_NOT_AVAILABLE, &req.member_id);
            return fx;
        }
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            reply_err(&mut fx, errors::INVALID_SESSION_TIMEOUT, &req.member_id);
            return fx;
        }
        if req.protocol_type.is_empty()
            || req.protocols.is_empty()
            || !self.supports(&req.protocol_type, &req.protocols)
        {
            reply_err(&mut fx, errors::INCONSISTENT_GROUP_PROTOCOL, &req.member_id);
            return fx;
        }
        let known = self.members.contains_key(&req.member_id);
        if req.member_id.is_empty() {
            if let Some(instance) = &req.instance_id {
                if let Some(old_id) = self.static_members.get(instance).cloned() {
                    return self.rejoin_static(req, old_id, now, cfg);
                }
            }
            if self.members.len() + self.pending.len() >= cfg.max_size {
                reply_err(&mut fx, errors::GROUP_MAX_SIZE_REACHED, "");
                return fx;
            }
            let id = self.new_member_id(&req.client_id);
            if req.require_known_member_id && req.instance_id.is_none() {
                self.pending.insert(id.clone(), now);
                reply_err(&mut fx, errors::MEMBER_ID_REQUIRED, &id);
                return fx;
            }
            self.add_member(id, req, now, cfg, &mut fx);
            return fx;
        }
        // Fencing is checked before membership, as in Kafka: an old incarnation of a
        // static member is told it was fenced, not that it is unknown.
        if let Some(instance) = &req.instance_id {
            if self
                .static_members
                .get(instance)
                .is_some_and(|id| *id != req.member_id)
            {
                reply_err(&mut fx, errors::FENCED_INSTANCE_ID, &req.member_id);
                return fx;
            }
        }
        if !known {
            if self.pending.remove(&req.member_id).is_some() {
                let id = req.member_id.clone();
                self.add_member(id, req, now, cfg, &mut fx);
            } else {
                reply_err(&mut fx, errors::UNKNOWN_MEMBER_ID, &req.member_id);
            }
            return fx;
        }
        // A known member rejoining.
        let id = req.member_id.clone();
        let changed = self
            .members
            .get(&id)
            .is_some_and(|m| m.protocols != req.protocols);
        if let Some(m) = self.members.get_mut(&id) {
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.last_heartbeat_ms = now;
            if let Some(old) = m.join_waiter.replace(req.waiter) {
                fx.push(Effect::Join {
                    waiter: old,
                    response: JoinResponse::error(errors::REBALANCE_IN_PROGRESS, &id),
                });
            }
        }
        match self.state {
            GroupState::PreparingRebalance => self.try_complete_join(now, &mut fx),
            GroupState::CompletingRebalance | GroupState::Stable
                if !changed && self.leader.as_deref() != Some(id.as_str()) =>
            {
                // Nothing changed: answer with the current generation, no rebalance.
                let waiter = self.members.get_mut(&id).and_then(|m| m.join_waiter.take());
                if let Some(w) = waiter {
                    let response = self.join_response(&id, false);
                    fx.push(Effect::Join {
                        waiter: w,
                        response,
                    });
                }
            }
            _ => {
                let reason = if changed {
                    format!("member {id} changed its protocols")
                } else {
                    format!("member {id} rejoined")
                };
                self.prepare_rebalance(reason, now, &mut fx);
                self.try_complete_join(now, &mut fx);
            }
        }
        fx
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        // Some protocol must be supported by every existing member as well.
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn add_member(
        &mut self,
        id: String,
        req: JoinRequest,
        now: i64,
        cfg: &GroupConfig,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        fx.push(Effect::Event(GroupEvent::MemberJoined {
            member_id: id.clone(),
            client_id: req.client_id.clone(),
        }));
        self.members.insert(
            id.clone(),
            Member {
                member_id: id.clone(),
                instance_id: req.instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols,
                assignment: Bytes::new(),
                last_heartbeat_ms: now,
                join_waiter: Some(req.waiter),
                sync_waiter: None,
            },
        );
        let was_empty = self.state == GroupState::Empty;
        match self.state {
            GroupState::PreparingRebalance => {
                if let Some((deadline, limit)) = self.initial_delay {
                    // Each new member during the initial delay extends it (bounded).
                    let extended = (now + cfg.initial_rebalance_delay_ms)
                        .min(limit)
                        .max(deadline);
                    self.initial_delay = Some((extended, limit));
                    self.join_deadline_ms = Some(extended);
                }
            }
            _ => {
                self.prepare_rebalance(format!("member {id} joined"), now, fx);
                if was_empty && cfg.initial_rebalance_delay_ms > 0 {
                    let limit = now + self.max_rebalance_timeout();
                    let deadline = (now + cfg.initial_rebalance_delay_ms).min(limit);
                    self.initial_delay = Some((deadline, limit));
                    self.join_deadline_ms = Some(deadline);
                }
            }
        }
        self.try_complete_join(now, fx);
    }

    fn rejoin_static(
        &mut self,
        req: JoinRequest,
        old_id: String,
        now: i64,
        cfg: &GroupConfig,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(mut member) = self.members.remove(&old_id) else {
            self.static_members
                .remove(req.instance_id.as_deref().unwrap_or_default());
            let id = self.new_member_id(&req.client_id);
            self.add_member(id, req, now, cfg, &mut fx);
            return fx;
        };
        // The old incarnation is fenced: its parked requests fail.
        if let Some(w) = member.join_waiter.take() {
            fx.push(Effect::Join {
                waiter: w,
                response: JoinResponse::error(errors::FENCED_INSTANCE_ID, &old_id),
            });
        }
        if let Some(w) = member.sync_waiter.take() {
            fx.push(Effect::Sync {
                waiter: w,
                response: self.sync_error(errors::FENCED_INSTANCE_ID),
            });
        }
        let new_id = self.new_member_id(&req.client_id);
        let same_protocols = member.protocols == req.protocols;
        member.member_id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.protocols = req.protocols.clone();
        member.last_heartbeat_ms = now;
        member.join_waiter = Some(req.waiter);
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        match self.state {
            GroupState::Stable if same_protocols => {
                // KIP-345: same instance back within its session: no rebalance; it keeps
                // its assignment (fetched again with SyncGroup).
                let mut response = self.join_response(&new_id, was_leader);
                if was_leader && !req.supports_skip_assignment {
                    // Before JoinGroup v9 there is no skip_assignment flag: Kafka answers
                    // with the *old* leader id so the returning leader does not compute an
                    // assignment that a Stable group would never broadcast.
                    response.leader = old_id.clone();
                    response.members.clear();
                    response.skip_assignment = false;
                }
                if let Some(w) = self
                    .members
                    .get_mut(&new_id)
                    .and_then(|m| m.join_waiter.take())
                {
                    fx.push(Effect::Join {
                        waiter: w,
                        response,
                    });
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, &mut fx),
            _ => {
                self.prepare_rebalance(format!("static member {new_id} rejoined"), now, &mut fx);
                self.try_complete_join(now, &mut fx);
            }
        }
        fx
    }

    pub(super) fn max_rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as i64)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn prepare_rebalance(&mut self, reason: String, now: i64, fx: &mut Vec<Effect>) {
        // Members waiting for their assignment must rejoin.
        for m in self.members.values_mut() {
            if let Some(w) = m.sync_waiter.take() {
                fx.push(Effect::Sync {
                    waiter: w,
                    response: SyncResponse {
                        error_code: errors::REBALANCE_IN_PROGRESS,
                        protocol_type: None,
                        protocol_name: None,
                        assignment: Bytes::new(),
                    },
                });
            }
        }
        if self.state != GroupState::PreparingRebalance {
            fx.push(Effect::Event(GroupEvent::RebalanceStarted { reason }));
            self.rebalance_started_ms.get_or_insert(now);
        }
        self.transition(GroupState::PreparingRebalance, fx);
        self.initial_delay = None;
        self.join_deadline_ms = Some(now + self.max_rebalance_timeout());
    }

    /// Completes the join phase when every member has rejoined (and no initial delay is
    /// running), or unconditionally when `force` (deadline passed).
    pub(super) fn try_complete_join(&mut self, now: i64, fx: &mut Vec<Effect>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if self.initial_delay.is_some() {
            return;
        }
        if self.members.values().all(|m| m.join_waiter.is_some()) {
            self.complete_join(now, fx);
        }
    }

    pub(super) fn complete_join(&mut self, now: i64, fx: &mut Vec<Effect>) {
        self.join_deadline_ms = None;
        self.initial_delay = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.protocol_type = None;
            self.leader = None;
            self.transition(GroupState::Empty, fx);
            self.finish_rebalance(now, fx);
            return;
        }
        self.protocol_name = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance, fx);
        // The session timer restarts with the join response, as in Kafka.
        for m in self.members.values_mut() {
            m.last_heartbeat_ms = now;
        }
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let response = self.join_response(&id, false);
            if let Some(w) = self.members.get_mut(&id).and_then(|m| m.join_waiter.take()) {
                fx.push(Effect::Join {
                    waiter: w,
                    response,
                });
            }
        }
    }

    pub(super) fn finish_rebalance(&mut self, now: i64, fx: &mut Vec<Effect>) {
        if let Some(started) = self.rebalance_started_ms.take() {
            fx.push(Effect::Event(GroupEvent::Stable {
                generation: self.generation_id,
                duration_ms: now - started,
                members: self.members.len(),
            }));
        }
    }

    /// The protocol most members list first among those all members support (Kafka's vote).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some(pref) = m
                .protocols
                .iter()
                .map(|(n, _)| n)
                .find(|n| candidates.contains(n))
            {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == pref) {
                    v.0 += 1;
                }
            }
        }
        // Highest vote; ties go to the earlier candidate.
        let best = votes
            .iter()
            .enumerate()
            .max_by_key(|(i, (v, _))| (*v, usize::MAX - i))?;
        Some(best.1 .1.clone())
    }

    fn join_response(&self, member_id: &str, skip_assignment: bool) -> JoinResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| JoinMemberInfo {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    metadata: m.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            error_code: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
            skip_assignment,
        }
    }
}
