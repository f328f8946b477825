//! How `lms.query.v1` answers look: text lines for people and a JSON object
//! (every field) for scripts, one impl per response message.

use lms_proto::query::v1 as pb;
use serde_json::{json, Value};

/// A query response as the user sees it.
pub trait Answer {
    /// Text lines, without indentation.
    fn lines(&self) -> Vec<String>;
    /// Every field, as JSON.
    fn json(&self) -> Value;
}

impl Answer for pb::GetCourseResponse {
    fn lines(&self) -> Vec<String> {
        match &self.course {
            Some(course) => course_lines(course),
            None => vec!["(no course in the answer)".into()],
        }
    }

    fn json(&self) -> Value {
        json!({ "course": self.course.as_ref().map(course_json) })
    }
}

impl Answer for pb::ListCoursesResponse {
    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .courses
            .iter()
            .map(|c| {
                format!(
                    "{}  {:<9}  seats {:>3}/{:<3}  {:<11}  {}",
                    c.course_id,
                    c.status,
                    c.seats_taken,
                    c.capacity,
                    access(c),
                    c.title
                )
            })
            .collect();
        if lines.is_empty() {
            lines.push("(no courses)".into());
        }
        lines.extend(next_page(&self.next_page_token));
        lines
    }

    fn json(&self) -> Value {
        json!({
            "courses": self.courses.iter().map(course_json).collect::<Vec<_>>(),
            "next_page_token": self.next_page_token,
        })
    }
}

impl Answer for pb::GetRosterResponse {
    fn lines(&self) -> Vec<String> {
        if self.enrollments.is_empty() {
            return vec!["(nobody enrolled)".into()];
        }
        self.enrollments
            .iter()
            .map(|e| {
                let mut line = format!(
                    "student {}  {:<9}  lessons done {}  enrolled {}",
                    e.student_id,
                    e.status,
                    e.lessons_completed,
                    short_time(&e.enrolled_at)
                );
                if !e.completed_at.is_empty() {
                    line.push_str(&format!("  completed {}", short_time(&e.completed_at)));
                }
                if !e.withdrawn_at.is_empty() {
                    line.push_str(&format!("  withdrawn {}", short_time(&e.withdrawn_at)));
                }
                line.push_str(&format!("  (enrollment {})", e.enrollment_id));
                line
            })
            .collect()
    }

    fn json(&self) -> Value {
        let enrollments: Vec<Value> = self
            .enrollments
            .iter()
            .map(|e| {
                json!({
                    "enrollment_id": e.enrollment_id,
                    "course_id": e.course_id,
                    "student_id": e.student_id,
                    "status": e.status,
                    "lessons_completed": e.lessons_completed,
                    "enrolled_at": e.enrolled_at,
                    "completed_at": e.completed_at,
                    "withdrawn_at": e.withdrawn_at,
                    "updated_at": e.updated_at,
                })
            })
            .collect();
        json!({ "enrollments": enrollments })
    }
}

impl Answer for pb::GetStudentDashboardResponse {
    fn lines(&self) -> Vec<String> {
        if self.courses.is_empty() {
            return vec![format!("student {}: no courses", self.student_id)];
        }
        self.courses
            .iter()
            .map(|c| {
                format!(
                    "{:<24}  {:<9}  lessons {}/{}  (course {})",
                    c.course_title, c.status, c.lessons_completed, c.lessons_total, c.course_id
                )
            })
            .collect()
    }

    fn json(&self) -> Value {
        let courses: Vec<Value> = self
            .courses
            .iter()
            .map(|c| {
                json!({
                    "course_id": c.course_id,
                    "enrollment_id": c.enrollment_id,
                    "status": c.status,
                    "lessons_completed": c.lessons_completed,
                    "lessons_total": c.lessons_total,
                    "course_title": c.course_title,
                    "updated_at": c.updated_at,
                })
            })
            .collect();
        json!({ "student_id": self.student_id, "courses": courses })
    }
}

impl Answer for pb::GetSubscriptionResponse {
    fn lines(&self) -> Vec<String> {
        let Some(s) = &self.subscription else {
            return vec!["(no subscription in the answer)".into()];
        };
        let mut lines = vec![
            format!("plan {}, {}", s.plan, s.status),
            format!("student             {}", s.student_id),
            format!("subscription        {}", s.subscription_id),
        ];
        if !s.trial_ends_at.is_empty() {
            lines.push(format!("trial ends          {}", s.trial_ends_at));
        }
        if !s.current_period_end.is_empty() {
            lines.push(format!("current period end  {}", s.current_period_end));
        }
        lines.push(format!("updated             {}", s.updated_at));
        lines
    }

    fn json(&self) -> Value {
        let subscription = self.subscription.as_ref().map(|s| {
            json!({
                "subscription_id": s.subscription_id,
                "student_id": s.student_id,
                "plan": s.plan,
                "status": s.status,
                "trial_ends_at": s.trial_ends_at,
                "current_period_end": s.current_period_end,
                "updated_at": s.updated_at,
            })
        });
        json!({ "subscription": subscription })
    }
}

impl Answer for pb::ListInvoicesResponse {
    fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .invoices
            .iter()
            .map(|i| {
                format!(
                    "{} {}  issued {}  period {} → {}  ref {}  (invoice {})",
                    money(i.amount_cents),
                    i.currency,
                    short_time(&i.issued_at),
                    short_time(&i.period_start),
                    short_time(&i.period_end),
                    if i.payment_reference.is_empty() {
                        "-"
                    } else {
                        &i.payment_reference
                    },
                    i.invoice_id
                )
            })
            .collect();
        if lines.is_empty() {
            lines.push("(no invoices)".into());
        }
        lines.extend(next_page(&self.next_page_token));
        lines
    }

    fn json(&self) -> Value {
        let invoices: Vec<Value> = self
            .invoices
            .iter()
            .map(|i| {
                json!({
                    "invoice_id": i.invoice_id,
                    "subscription_id": i.subscription_id,
                    "student_id": i.student_id,
                    "amount_cents": i.amount_cents,
                    "currency": i.currency,
                    "period_start": i.period_start,
                    "period_end": i.period_end,
                    "payment_reference": i.payment_reference,
                    "issued_at": i.issued_at,
                })
            })
            .collect();
        json!({ "invoices": invoices, "next_page_token": self.next_page_token })
    }
}

fn course_lines(c: &pb::Course) -> Vec<String> {
    let instructors = if c.instructor_ids.is_empty() {
        "-".to_string()
    } else {
        c.instructor_ids.join(", ")
    };
    vec![
        format!("{:?}  {}", c.title, c.status),
        format!("course        {}", c.course_id),
        format!("seats         {} of {} taken", c.seats_taken, c.capacity),
        format!("access        {}", access(c)),
        format!(
            "content       {} module(s), {} lesson(s)",
            c.module_count, c.lesson_count
        ),
        format!(
            "language      {}",
            if c.language.is_empty() {
                "-"
            } else {
                &c.language
            }
        ),
        format!("instructors   {instructors}"),
        format!("created       {}", c.created_at),
        format!("updated       {}", c.updated_at),
    ]
}

fn course_json(c: &pb::Course) -> Value {
    json!({
        "course_id": c.course_id,
        "title": c.title,
        "description": c.description,
        "status": c.status,
        "capacity": c.capacity,
        "seats_taken": c.seats_taken,
        "access_kind": c.access_kind,
        "price_cents": c.price_cents,
        "plan": c.plan,
        "language": c.language,
        "instructor_ids": c.instructor_ids,
        "module_count": c.module_count,
        "lesson_count": c.lesson_count,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// `free`, `paid 19.99`, `plan basic`.
fn access(c: &pb::Course) -> String {
    match c.access_kind.as_str() {
        "paid" => format!("paid {}", money(c.price_cents)),
        "plan" => format!("plan {}", c.plan),
        other => other.to_string(),
    }
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `2024-05-01T12:00:00.123456Z` → `2024-05-01 12:00:00`; `-` when unset.
fn short_time(rfc3339: &str) -> String {
    match rfc3339.get(..19) {
        Some(seconds) => seconds.replacen('T', " ", 1),
        None if rfc3339.is_empty() => "-".into(),
        None => rfc3339.to_string(),
    }
}

fn next_page(token: &str) -> Option<String> {
    (!token.is_empty()).then(|| format!("more: --page-token {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_to_seconds() {
        assert_eq!(
            short_time("2024-05-01T12:00:00.123456Z"),
            "2024-05-01 12:00:00"
        );
        assert_eq!(short_time(""), "-");
        assert_eq!(short_time("soon"), "soon");
    }

    #[test]
    fn access_reads_like_the_command_side() {
        let mut course = pb::Course {
            access_kind: "paid".into(),
            price_cents: 1999,
            ..Default::default()
        };
        assert_eq!(access(&course), "paid 19.99");
        course.access_kind = "plan".into();
        course.plan = "basic".into();
        assert_eq!(access(&course), "plan basic");
        course.access_kind = "free".into();
        assert_eq!(access(&course), "free");
    }

    #[test]
    fn an_empty_roster_says_so() {
        let empty = pb::GetRosterResponse::default();
        assert_eq!(empty.lines(), vec!["(nobody enrolled)".to_string()]);
        assert_eq!(empty.json(), json!({ "enrollments": [] }));
    }
}
