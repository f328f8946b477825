//! The demo's last part: reads what the script wrote back through
//! `lms-query`, prints it and checks it against the script. Every query
//! carries the position of the command replies it must reflect (read your
//! writes); while a projection is behind, the server answers UNAVAILABLE
//! with a RetryInfo delay, and the demo waits that long and asks again, as a
//! real client would, for at most [`BUDGET`] overall.

use super::{Course, Enrollment, Script};
use crate::answers::Answer;
use crate::output::Output;
use crate::query::{position_of, QueryConnection, QueryRequest};
use crate::rpc::Failure;
use anyhow::{bail, Context};
use lms_proto::query::v1 as pb;
use std::fmt::Display;
use std::time::Duration;
use tokio::time::Instant;
use tonic::Code;

/// How long the read-back may wait for the projections, all queries together
/// (a worker that just started needs ~20 s to join its consumer group).
const BUDGET: Duration = Duration::from_secs(60);
/// The retry delay when an UNAVAILABLE answer carries no RetryInfo.
const DEFAULT_RETRY: Duration = Duration::from_millis(500);

struct Reader<'a> {
    conn: &'a QueryConnection,
    out: Output,
    deadline: Instant,
}

pub(super) async fn run(
    conn: &QueryConnection,
    script: &Script,
    out: Output,
) -> anyhow::Result<()> {
    out.note(&format!(
        "\nreading the demo data back from lms-query at {} (read your writes):",
        conn.endpoint()
    ));
    let reader = Reader {
        conn,
        out,
        deadline: Instant::now() + BUDGET,
    };
    for course in &script.courses {
        reader.course(course).await?;
    }
    reader.instructor_courses(script).await?;
    for course in &script.courses {
        reader.roster(course, script).await?;
    }
    for enrollment in &script.enrollments {
        reader.dashboard(enrollment, script).await?;
    }
    let subscription_id = reader.subscription(script).await?;
    reader.invoices(script, &subscription_id).await?;
    Ok(())
}

impl Reader<'_> {
    async fn course(&self, course: &Course) -> anyhow::Result<()> {
        let position = course.position();
        let request = pb::GetCourseRequest {
            course_id: course.id.clone(),
            min_position: None,
        };
        let title = format!(
            "GetCourse {}, at course seq {} (publish {} + {} seat changes)",
            course.label,
            position.sequence,
            course.published.sequence,
            course.enrolled + course.withdrawn
        );
        let answer = self.read(&title, request, &[position]).await?;
        let got = answer
            .course
            .with_context(|| format!("GetCourse {}: no course in the answer", course.label))?;
        let label = course.label;
        self.same(&format!("{label} title"), got.title.as_str(), course.title)?;
        self.same(&format!("{label} status"), got.status.as_str(), "published")?;
        self.same(&format!("{label} capacity"), got.capacity, course.capacity)?;
        self.same(
            &format!(
                "{label} seats taken = {} enrolled − {} withdrew",
                course.enrolled, course.withdrawn
            ),
            u64::from(got.seats_taken),
            course.seats_taken(),
        )?;
        self.same(&format!("{label} lessons"), got.lesson_count, 1)?;
        let (kind, plan) = match &course.plan {
            Some(plan) => ("plan", plan.as_str()),
            None => ("free", ""),
        };
        self.same(
            &format!("{label} access"),
            format!("{} {}", got.access_kind, got.plan).trim(),
            format!("{kind} {plan}").trim(),
        )
    }

    /// The instructor's courses, newest first (both were read above, so
    /// their catalog rows are in place).
    async fn instructor_courses(&self, script: &Script) -> anyhow::Result<()> {
        let request = pb::ListCoursesRequest {
            instructor_id: script.instructor.to_string(),
            ..Default::default()
        };
        let title = "ListCourses --instructor <the demo's instructor>";
        let answer = self.read(title, request, &[]).await?;
        let got: Vec<&str> = answer
            .courses
            .iter()
            .map(|c| c.course_id.as_str())
            .collect();
        let want: Vec<&str> = script.courses.iter().rev().map(|c| c.id.as_str()).collect();
        self.same(
            "the instructor's courses, newest first",
            got.join(", "),
            want.join(", "),
        )
    }

    async fn roster(&self, course: &Course, script: &Script) -> anyhow::Result<()> {
        let enrollments: Vec<&Enrollment> = script
            .enrollments
            .iter()
            .filter(|e| e.course_id == course.id)
            .collect();
        let positions: Vec<pb::MinPosition> = enrollments.iter().map(|e| e.position()).collect();
        let request = pb::GetRosterRequest {
            course_id: course.id.clone(),
            min_position: None,
        };
        let title = format!(
            "GetRoster {}, after the last reply of each of its {} enrollments",
            course.label,
            enrollments.len()
        );
        let answer = self.read(&title, request, &positions).await?;
        self.same(
            &format!("{} roster size", course.label),
            answer.enrollments.len(),
            enrollments.len(),
        )?;
        // The script enrolled in this order, so the roster lists them so.
        for (got, want) in answer.enrollments.iter().zip(&enrollments) {
            self.same(
                &format!("{} roster: {}", course.label, want.student_label),
                format!(
                    "{} {}, {} lesson(s) done",
                    got.student_id, got.status, got.lessons_completed
                ),
                format!(
                    "{} {}, {} lesson(s) done",
                    want.student, want.status, want.lessons_completed
                ),
            )?;
        }
        let active = answer
            .enrollments
            .iter()
            .filter(|e| e.status == "active")
            .count();
        self.same(
            &format!("{} active enrollments = seats taken", course.label),
            u64::try_from(active).unwrap_or(u64::MAX),
            course.seats_taken(),
        )
    }

    /// A student's dashboard: after the enrollment's last reply and the
    /// course's publication (title and lesson count come from course events).
    async fn dashboard(&self, enrollment: &Enrollment, script: &Script) -> anyhow::Result<()> {
        let course = script
            .courses
            .iter()
            .find(|c| c.id == enrollment.course_id)
            .context("an enrollment of the script names a course it did not create")?;
        let request = pb::GetStudentDashboardRequest {
            student_id: enrollment.student.to_string(),
            min_position: None,
        };
        let title = format!(
            "GetStudentDashboard {}, after enrollment seq {} and {} seq {}",
            enrollment.student_label,
            enrollment.last.sequence,
            course.label,
            course.published.sequence
        );
        let positions = [enrollment.position(), position_of(&course.published)];
        let answer = self.read(&title, request, &positions).await?;
        let got: Vec<String> = answer
            .courses
            .iter()
            .map(|c| {
                format!(
                    "{} {:?} {} {}/{}",
                    c.course_id, c.course_title, c.status, c.lessons_completed, c.lessons_total
                )
            })
            .collect();
        let want = format!(
            "{} {:?} {} {}/1",
            course.id, course.title, enrollment.status, enrollment.lessons_completed
        );
        self.same(
            &format!("{} dashboard", enrollment.student_label),
            got.join("; "),
            want,
        )
    }

    /// The paying student's subscription; its id.
    async fn subscription(&self, script: &Script) -> anyhow::Result<String> {
        let s = &script.subscription;
        let request = pb::GetSubscriptionRequest {
            student_id: s.student.to_string(),
            min_position: None,
        };
        let title = format!(
            "GetSubscription {}, after the Cancel reply (seq {})",
            s.student_label, s.last.sequence
        );
        let answer = self.read(&title, request, &[position_of(&s.last)]).await?;
        let got = answer.subscription.with_context(|| {
            format!(
                "GetSubscription {}: no subscription in the answer",
                s.student_label
            )
        })?;
        self.same(
            &format!("{} subscription", s.student_label),
            format!("{} {}", got.plan, got.status),
            format!("{} {}", s.plan, s.status),
        )?;
        Ok(got.subscription_id)
    }

    /// The invoice Activate issued (StartTrial and Cancel issue none).
    async fn invoices(&self, script: &Script, subscription_id: &str) -> anyhow::Result<()> {
        let s = &script.subscription;
        let request = pb::ListInvoicesRequest {
            student_id: s.student.to_string(),
            ..Default::default()
        };
        let title = format!(
            "ListInvoices {}, after the Activate reply (seq {})",
            s.student_label, s.activated.sequence
        );
        let answer = self
            .read(&title, request, &[position_of(&s.activated)])
            .await?;
        self.same(
            &format!("{} invoices (one Activate charged)", s.student_label),
            answer.invoices.len(),
            1,
        )?;
        for invoice in &answer.invoices {
            self.same(
                "the invoice's subscription",
                invoice.subscription_id.as_str(),
                subscription_id,
            )?;
        }
        Ok(())
    }

    /// Asks `request` at each position in turn (a position once applied
    /// stays applied, so the last answer reflects all of them), prints the
    /// last answer under `title` and returns it.
    async fn read<R>(
        &self,
        title: &str,
        request: R,
        positions: &[pb::MinPosition],
    ) -> anyhow::Result<R::Response>
    where
        R: QueryRequest,
        R::Response: Answer,
    {
        let mut answer = None;
        for position in positions {
            let at = request.clone().at(Some(position.clone()));
            answer = Some(self.caught_up(title, at).await?);
        }
        let answer = match answer {
            Some(answer) => answer,
            None => self.caught_up(title, request).await?,
        };
        self.out.read_back(title, R::RPC, &answer);
        Ok(answer)
    }

    /// One query, asked again after the RetryInfo delay while the server
    /// answers UNAVAILABLE, until the read-back's deadline.
    async fn caught_up<R: QueryRequest>(
        &self,
        title: &str,
        request: R,
    ) -> anyhow::Result<R::Response> {
        let started = Instant::now();
        let mut waiting = false;
        loop {
            let failure = match self.conn.ask(request.clone()).await {
                Ok(answer) => {
                    if waiting {
                        self.out.note(&format!(
                            "caught up after {:.1} s",
                            started.elapsed().as_secs_f64()
                        ));
                    }
                    return Ok(answer);
                }
                Err(status) => Failure::from(&status),
            };
            let reason = failure.reason.as_deref().unwrap_or("(no ErrorInfo)");
            if failure.code != Code::Unavailable {
                bail!(
                    "{title}: {} {reason}: {}",
                    failure.code_name(),
                    failure.message
                );
            }
            let delay = failure.retry_after.unwrap_or(DEFAULT_RETRY);
            let now = Instant::now();
            if now + delay > self.deadline {
                bail!(
                    "{title}: still UNAVAILABLE {reason} ({}) after waiting {:.0} s for the \
                     read side; are lms-projections running and consuming? (scripts/run.sh \
                     starts them; logs in .lms/logs/)",
                    failure.message,
                    started.elapsed().as_secs_f64()
                );
            }
            if !waiting {
                waiting = true;
                self.out.note(&format!(
                    "waiting: {title}: {} answered UNAVAILABLE {reason}, the projection is \
                     behind; asking again every {} ms (at most {} s more)",
                    R::RPC,
                    delay.as_millis(),
                    (self.deadline - now).as_secs()
                ));
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// A check: what was read equals what the script did, or the demo fails.
    fn same<T: PartialEq + Display>(&self, what: &str, got: T, want: T) -> anyhow::Result<()> {
        if got != want {
            bail!(
                "read-back check failed: {what}: the query service says {got}, the demo did {want}"
            );
        }
        self.out.check(&format!("{what}: {got}"));
        Ok(())
    }
}
