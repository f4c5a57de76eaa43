//! The consumer's side of a group rebalance with the classic protocol: `poll()` starts a
//! join when one is needed (new member, changed subscription or metadata, a lost or
//! expired membership) and applies a finished one: revocation (eager or cooperative),
//! the new assignment, and the rebalance listener's events.

use super::*;

impl Consumer {
    /// Starts a join when needed, applies a finished one; never waits for a join in
    /// progress (as Java's poll, so that cooperative members keep fetching).
    pub(super) async fn poll_group(&mut self) -> Result<(), ClientError> {
        let Some(g) = self.group.clone() else {
            return Ok(());
        };
        if let Some(k) = self.kip848.clone() {
            return self.poll_consumer_protocol(&g, &k).await;
        }
        if self.join_task.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(h) = self.join_task.take() {
                let r = h.await;
                self.on_join_complete(r).await?;
            }
        }
        if self.join_task.is_some() {
            return Ok(());
        }
        self.check_metadata(&g).await;
        let (need, lost) = {
            let st = g.state.lock();
            (st.phase != Phase::Stable || st.rejoin_needed, st.lost)
        };
        if need {
            self.start_join(&g, lost).await;
        }
        Ok(())
    }

    /// The leader watches the subscribed topics' partition counts (every
    /// `metadata.max.age.ms`) and rejoins when they change, as the Java leader does.
    async fn check_metadata(&mut self, g: &Arc<GroupShared>) {
        let now = Instant::now();
        let Some(counts) = &self.leader_counts else {
            return;
        };
        if now < self.next_metadata_check || self.subscription.is_empty() {
            return;
        }
        self.next_metadata_check = now + self.metadata_max_age;
        let Ok(md) = self.cluster.refresh(&self.subscription).await else {
            return;
        };
        let current: BTreeMap<String, i32> = self
            .subscription
            .iter()
            .filter_map(|t| {
                md.topics
                    .get(t)
                    .filter(|i| i.error_code == 0 && !i.partitions.is_empty())
                    .map(|i| (t.clone(), i.partitions.len() as i32))
            })
            .collect();
        if &current != counts {
            tracing::info!(group = %g.cfg.group_id, "subscribed topics' partitions changed; rejoining");
            g.state.lock().rejoin_needed = true;
        } else if current.len() < self.subscription.len() {
            // A subscribed topic does not exist (yet): look again soon, as Java keeps
            // requesting metadata for unknown topics.
            self.next_metadata_check = now + self.retry_backoff.max(Duration::from_millis(500));
        }
    }

    async fn start_join(&mut self, g: &Arc<GroupShared>, lost: bool) {
        let owned = self.fetcher.assignment();
        let now = Instant::now();
        // The JoinGroup reason (KIP-800), shown by the coordinator.
        let reason = if lost {
            "the member lost its generation (expired, fenced or left on poll timeout)"
        } else if g.state.lock().phase == Phase::Unjoined {
            "joining the group"
        } else {
            "rejoining: the group is rebalancing, the subscription changed or revoked partitions need reassignment"
        };
        if lost {
            if !owned.is_empty() {
                self.fetcher.clear();
                self.emit(ConsumerEvent::Lost {
                    partitions: owned,
                    at: now,
                });
            }
            self.owned_generation = -1;
        } else if self.protocol == RebalanceProtocol::Eager && !owned.is_empty() {
            if self.auto_commit {
                if let Err(e) = self.commit_positions(None).await {
                    tracing::warn!(group = %g.cfg.group_id, "auto-commit before revocation failed: {e}");
                }
            }
            self.fetcher.clear();
            self.emit(ConsumerEvent::Revoked {
                partitions: owned,
                at: Instant::now(),
            });
        }
        {
            let mut st = g.state.lock();
            st.lost = false;
            st.rejoin_needed = false;
            st.phase = Phase::Joining;
        }
        if self.heartbeat_task.is_none() {
            self.heartbeat_task = Some(tokio::spawn(group::heartbeat_loop(g.clone())));
        }
        self.emit(ConsumerEvent::JoinStarted { at: Instant::now() });
        let keep = self.fetcher.assignment();
        let generation = if keep.is_empty() {
            -1
        } else {
            self.owned_generation
        };
        self.join_task = Some(tokio::spawn(group::join_group(
            g.clone(),
            self.subscription.clone(),
            keep,
            generation,
            reason.to_string(),
        )));
    }

    pub(super) async fn on_join_complete(
        &mut self,
        r: Result<Result<JoinOutcome, ClientError>, JoinError>,
    ) -> Result<(), ClientError> {
        let Some(g) = self.group.clone() else {
            return Ok(());
        };
        let out = match r {
            Err(e) => {
                tracing::warn!("join task ended: {e}");
                let mut st = g.state.lock();
                st.phase = Phase::Unjoined;
                st.rejoin_needed = true;
                return Ok(());
            }
            Ok(Err(e)) => {
                let mut st = g.state.lock();
                if st.phase == Phase::Joining {
                    st.phase = Phase::Unjoined;
                }
                st.rejoin_needed = true;
                return Err(e);
            }
            Ok(Ok(out)) => out,
        };
        let current = {
            let st = g.state.lock();
            st.phase == Phase::Stable
                && st.generation == out.generation
                && st.member_id == out.member_id
        };
        if !current {
            // The membership was lost after the join completed (e.g. poll timeout):
            // the next poll rejoins.
            return Ok(());
        }
        let subscribed: BTreeSet<&str> = self.subscription.iter().map(String::as_str).collect();
        let new: Vec<(String, i32)> = out
            .assignment
            .into_iter()
            .filter(|(t, _)| {
                let ok = subscribed.contains(t.as_str());
                if !ok {
                    tracing::warn!(topic = %t, "assigned a partition of a topic not subscribed to; ignored");
                }
                ok
            })
            .collect();
        let owned = self.fetcher.assignment();
        let added = assignor::difference(&new, &owned);
        let revoked = assignor::difference(&owned, &new);
        if !revoked.is_empty() {
            // Cooperative: give up what moved (eager members own nothing by now).
            if self.auto_commit {
                if let Err(e) = self.commit_positions(Some(&revoked)).await {
                    tracing::warn!(group = %g.cfg.group_id, "auto-commit of revoked partitions failed: {e}");
                }
            }
            self.fetcher.remove(&revoked);
            self.emit(ConsumerEvent::Revoked {
                partitions: revoked,
                at: Instant::now(),
            });
            // Second phase: rejoin so that the moved partitions can be assigned.
            g.state.lock().rejoin_needed = true;
        }
        self.fetcher.add(&added, true);
        self.owned_generation = out.generation;
        self.leader_counts = out.leader_counts;
        if let Some(counts) = &self.leader_counts {
            let missing = counts.len() < self.subscription.len();
            self.next_metadata_check = Instant::now()
                + if missing {
                    self.retry_backoff.max(Duration::from_millis(500))
                } else {
                    self.metadata_max_age
                };
        }
        let assigned = if self.protocol == RebalanceProtocol::Cooperative {
            added
        } else {
            new
        };
        self.emit(ConsumerEvent::Assigned {
            partitions: assigned,
            at: Instant::now(),
        });
        Ok(())
    }
}
