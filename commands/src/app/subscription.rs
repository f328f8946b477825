//! Billing: each command is one decision of the student's Subscription.

use super::{AggregateStore, Reply, Runner};
use crate::context::CommandContext;
use crate::error::CommandError;
use lms_domain::subscription::{Subscription, SubscriptionCommand};
use lms_domain::SubscriptionId;
use std::sync::Arc;

#[derive(Clone)]
pub struct SubscriptionService {
    subscriptions: Arc<AggregateStore<Subscription>>,
    runner: Runner,
}

impl SubscriptionService {
    pub fn new(subscriptions: Arc<AggregateStore<Subscription>>, runner: Runner) -> Self {
        Self {
            subscriptions,
            runner,
        }
    }

    pub async fn execute(
        &self,
        context: &CommandContext,
        subscription_id: SubscriptionId,
        command: SubscriptionCommand,
    ) -> Result<Reply, CommandError> {
        let id = subscription_id.to_string();
        self.runner
            .run(context, || {
                // The invoice a charge issued, if any, is the created entity;
                // it is derivable, so the reply leaves it to the read side.
                self.subscriptions
                    .complete(context, &id, command.clone(), "")
            })
            .await
    }
}
