//! `lms.command.v1.SubscriptionCommands`.

use super::fields::Fields;
use super::handle;
use crate::app::SubscriptionService;
use lms_domain::subscription::SubscriptionCommand;
use lms_domain::{Clock, SubscriptionId, UserId};
use lms_proto::command::v1::subscription_commands_server::SubscriptionCommands;
use lms_proto::command::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct SubscriptionCommandsService {
    service: SubscriptionService,
    clock: Arc<dyn Clock>,
}

impl SubscriptionCommandsService {
    pub fn new(service: SubscriptionService, clock: Arc<dyn Clock>) -> Self {
        Self { service, clock }
    }
}

#[tonic::async_trait]
impl SubscriptionCommands for SubscriptionCommandsService {
    async fn start_trial(
        &self,
        request: Request<StartTrialRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "StartTrial", request, |ctx, r| async move {
            let mut f = Fields::default();
            let student_id: UserId = f.id("student_id", &r.student_id);
            let plan = f.plan("plan", &r.plan);
            f.finish()?;
            let subscription_id = SubscriptionId::for_student(student_id);
            let command = SubscriptionCommand::StartTrial {
                actor: ctx.actor,
                subscription_id,
                student_id,
                plan,
            };
            self.service.execute(&ctx, subscription_id, command).await
        })
        .await
    }

    async fn activate(
        &self,
        request: Request<ActivateSubscriptionRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "ActivateSubscription",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let student_id: UserId = f.id("student_id", &r.student_id);
                let plan = f.plan("plan", &r.plan);
                let subscription_id = SubscriptionId::for_student(student_id);
                let command = SubscriptionCommand::Activate {
                    actor: ctx.actor,
                    subscription_id,
                    student_id,
                    plan,
                    payment_method: r.payment_method,
                };
                f.extend(command.violations());
                f.finish()?;
                self.service.execute(&ctx, subscription_id, command).await
            },
        )
        .await
    }

    async fn renew(
        &self,
        request: Request<RenewSubscriptionRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "RenewSubscription",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let student_id: UserId = f.id("student_id", &r.student_id);
                let command = SubscriptionCommand::Renew {
                    actor: ctx.actor,
                    payment_method: r.payment_method,
                };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, SubscriptionId::for_student(student_id), command)
                    .await
            },
        )
        .await
    }

    async fn mark_past_due(
        &self,
        request: Request<MarkPastDueRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(&*self.clock, "MarkPastDue", request, |ctx, r| async move {
            let mut f = Fields::default();
            let student_id: UserId = f.id("student_id", &r.student_id);
            let command = SubscriptionCommand::MarkPastDue { actor: ctx.actor };
            f.extend(command.violations());
            f.finish()?;
            self.service
                .execute(&ctx, SubscriptionId::for_student(student_id), command)
                .await
        })
        .await
    }

    async fn cancel(
        &self,
        request: Request<CancelSubscriptionRequest>,
    ) -> Result<Response<CommandReply>, Status> {
        handle(
            &*self.clock,
            "CancelSubscription",
            request,
            |ctx, r| async move {
                let mut f = Fields::default();
                let student_id: UserId = f.id("student_id", &r.student_id);
                let command = SubscriptionCommand::Cancel {
                    actor: ctx.actor,
                    reason: r.reason,
                };
                f.extend(command.violations());
                f.finish()?;
                self.service
                    .execute(&ctx, SubscriptionId::for_student(student_id), command)
                    .await
            },
        )
        .await
    }
}
