// From a problem+json error to what a form shows: the violations that name a
// field of the form go beside that field; everything else becomes one
// form-level message (the reason's wording, or the server's detail).
import type { FieldValues, Path, UseFormSetError } from 'react-hook-form';
import { ApiError, type Violation } from './client';

/** Words for the reasons a person meets; anything else shows the server's detail. */
const REASON_MESSAGES: Record<string, string> = {
  COURSE_FULL: 'Course full',
  ALREADY_ENROLLED: 'You are already enrolled in this course.',
  COURSE_NOT_PUBLISHED: 'This course is not open for enrollment.',
  COURSE_ARCHIVED: 'This course is closed.',
  NOT_YOUR_DATA: "You are not allowed to see another student's data.",
  NOT_COURSE_INSTRUCTOR: 'Only the instructors of this course may do that.',
  NOT_ALLOWED_FOR_STUDENT: 'You are not allowed to do that.',
  ADMIN_ONLY: 'Only an admin may do that.',
  SESSION_REQUIRED: 'Please log in.',
  INVALID_CREDENTIALS: 'Wrong email or password.',
  TOO_MANY_ATTEMPTS: 'Too many attempts. Please wait and try again.',
  EMAIL_TAKEN: 'An account with this email already exists.',
  USER_ALREADY_REGISTERED: 'An account with this email already exists.',
  CSRF_TOKEN_INVALID: 'Your session changed. Reload the page and try again.',
  PAYMENT_DECLINED: 'The card was declined.',
  TRIAL_ALREADY_USED: 'You have already used your free trial.',
  SUBSCRIPTION_NOT_FOUND: 'You have no subscription yet.',
  SUBSCRIPTION_ALREADY_ACTIVE: 'Your subscription is already active.',
  COURSE_HAS_NO_LESSONS: 'Add at least one lesson before publishing.',
  COURSE_ALREADY_PUBLISHED: 'This course is already published.',
  CAPACITY_BELOW_ENROLLMENTS: 'The capacity cannot be below the number of enrolled students.',
  LESSON_ALREADY_COMPLETED: 'You have already completed this lesson.',
  ENROLLMENT_NOT_ACTIVE: 'This enrollment is no longer active.',
  READ_MODEL_BEHIND: 'The latest change is still being processed. Try again in a moment.',
  NETWORK_ERROR: 'The server could not be reached. Check your connection and try again.',
};

/** One line for a person: the reason's wording (or the detail), then the reason code. */
export function problemMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const reason = error.reason;
    const words = (reason && REASON_MESSAGES[reason]) || error.problem.detail || error.problem.title;
    return reason && reason !== 'NETWORK_ERROR' ? `${words} (${reason})` : words;
  }
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

export interface SplitViolations {
  /** field name → message(s), for the fields the form has. */
  fields: Record<string, string>;
  /** The violations that name no field of the form. */
  other: Violation[];
}

/** Splits a problem's violations into the form's fields and the rest. Two
 * violations of one field are joined; a field of the form is matched exactly
 * (`access.price_cents` is a nested field of the form, as the API names it). */
export function splitViolations(violations: readonly Violation[], formFields: readonly string[]): SplitViolations {
  const fields: Record<string, string> = {};
  const other: Violation[] = [];
  for (const v of violations) {
    if (formFields.includes(v.field)) {
      fields[v.field] = fields[v.field] ? `${fields[v.field]}; ${v.description}` : v.description;
    } else {
      other.push(v);
    }
  }
  return { fields, other };
}

/** The message a form shows above its fields for an error: null when every
 * violation went beside a field. */
export function formLevelMessage(error: unknown, formFields: readonly string[]): string | null {
  if (!(error instanceof ApiError)) return problemMessage(error);
  const { fields, other } = splitViolations(error.violations, formFields);
  if (error.violations.length > 0 && other.length === 0 && Object.keys(fields).length > 0) return null;
  if (other.length > 0) {
    const list = other.map((v) => (v.field ? `${v.field}: ${v.description}` : v.description)).join('; ');
    return `${list}${error.reason ? ` (${error.reason})` : ''}`;
  }
  return problemMessage(error);
}

/** Puts a server error on a React Hook Form: violations beside their fields
 * (`setError`), and returns the form-level message (or null). */
export function applyServerErrors<T extends FieldValues>(
  error: unknown,
  setError: UseFormSetError<T>,
  formFields: readonly Path<T>[],
): string | null {
  if (error instanceof ApiError) {
    const { fields } = splitViolations(error.violations, formFields);
    for (const [field, message] of Object.entries(fields)) {
      setError(field as Path<T>, { type: 'server', message }, { shouldFocus: true });
    }
  }
  return formLevelMessage(error, formFields);
}
