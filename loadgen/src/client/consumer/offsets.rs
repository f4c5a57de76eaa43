//! The consumer's offsets: committed offsets looked up for new partitions (then
//! `auto.offset.reset`), and commits: synchronous, asynchronous and automatic
//! (`enable.auto.commit` every `auto.commit.interval.ms`).

use super::*;

impl Consumer {
    /// Looks up committed offsets for new partitions, then applies `auto.offset.reset`.
    pub(super) async fn update_positions(&mut self) -> Result<(), ClientError> {
        let need = self.fetcher.need_committed();
        let now = Instant::now();
        if !need.is_empty() && self.offset_fetch_retry_at.is_none_or(|t| t <= now) {
            match &self.group {
                Some(g) => match group::fetch_committed(g, &need).await {
                    Ok(c) => {
                        self.offset_fetch_retry_at = None;
                        // Partitions the coordinator did not mention have no offset.
                        let mut all: Vec<(String, i32, i64)> = need
                            .iter()
                            .map(|(t, p)| {
                                let o = c
                                    .iter()
                                    .find(|(ct, cp, _)| ct == t && cp == p)
                                    .map_or(-1, |x| x.2);
                                (t.clone(), *p, o)
                            })
                            .collect();
                        all.sort();
                        self.fetcher.set_committed(&all);
                    }
                    Err(e) if e.is_retriable() => {
                        tracing::debug!("OffsetFetch failed: {e}");
                        self.offset_fetch_retry_at = Some(now + self.retry_backoff);
                    }
                    Err(e) => return Err(e),
                },
                None => {
                    let none: Vec<(String, i32, i64)> =
                        need.into_iter().map(|(t, p)| (t, p, -1)).collect();
                    self.fetcher.set_committed(&none);
                }
            }
        }
        if self.fetcher.needs_positions() {
            self.fetcher.reset_positions().await?;
        }
        Ok(())
    }

    /// (generation, member id) to commit with: the group's in subscribe mode, none
    /// (-1, "") for manually assigned partitions.
    fn commit_identity(&self) -> (i32, String) {
        match (&self.group, self.mode) {
            (Some(g), Mode::Subscribed) => {
                let st = g.state.lock();
                (st.generation, st.member_id.clone())
            }
            _ => (-1, String::new()),
        }
    }

    /// Waits (up to `request.timeout.ms`) for the async commits in flight, so that a
    /// synchronous commit is not overtaken by an older one, as Java's `commitSync()`.
    pub(super) async fn flush_async_commits(&mut self) {
        let deadline = Instant::now() + self.request_timeout;
        while !self.background.is_empty() {
            match tokio::time::timeout_at(deadline, self.background.join_next()).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    pub(super) async fn commit_positions(
        &mut self,
        only: Option<&[(String, i32)]>,
    ) -> Result<(), ClientError> {
        self.flush_async_commits().await;
        let Some(g) = &self.group else {
            return Err(ClientError::Config(
                "committing offsets needs group.id".into(),
            ));
        };
        let mut offsets = self.fetcher.positions();
        if let Some(only) = only {
            offsets.retain(|(t, p, _)| only.iter().any(|(ot, op)| ot == t && op == p));
        }
        let (generation, member) = self.commit_identity();
        group::commit_offsets(g, &offsets, generation, &member).await?;
        if !offsets.is_empty() {
            self.emit(ConsumerEvent::Committed {
                offsets,
                at: Instant::now(),
            });
        }
        Ok(())
    }

    /// Commits the positions of all assigned partitions (the offsets after the records
    /// returned by poll) and waits for the result.
    pub async fn commit_sync(&mut self) -> Result<(), ClientError> {
        self.commit_positions(None).await
    }

    /// Commits the positions in the background; failures are logged.
    pub fn commit_async(&mut self) {
        let Some(g) = self.group.clone() else {
            tracing::warn!("commit_async without group.id: ignored");
            return;
        };
        let offsets = self.fetcher.positions();
        if offsets.is_empty() {
            return;
        }
        let (generation, member) = self.commit_identity();
        let events = self.events.clone();
        let previous = self.async_chain.take();
        let (done, done_rx) = oneshot::channel();
        self.async_chain = Some(done_rx);
        self.background.spawn(async move {
            if let Some(previous) = previous {
                // Ended or aborted: either way this one may go.
                let _ = previous.await;
            }
            let result = group::commit_offsets(&g, &offsets, generation, &member).await;
            let _ = done.send(());
            match result {
                Ok(()) => {
                    let _ = events.send(ConsumerEvent::Committed {
                        offsets,
                        at: Instant::now(),
                    });
                }
                Err(e) => tracing::warn!(group = %g.cfg.group_id, "async commit failed: {e}"),
            }
        });
    }

    pub(super) fn maybe_auto_commit(&mut self) {
        if !self.auto_commit || self.group.is_none() {
            return;
        }
        let now = Instant::now();
        if now < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = now + self.auto_commit_interval;
        let stable = match (&self.group, self.mode) {
            (Some(g), Mode::Subscribed) => g.state.lock().phase == Phase::Stable,
            _ => true,
        };
        if stable {
            self.commit_async();
        }
    }
}
