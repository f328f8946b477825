// The server's field rules, mirrored for client-side validation. Each rule
// names the server file it copies; the messages are the server's own, so a
// field shows the same words whichever side caught it. When a server rule
// changes, change it here (and in src/test/rules.test.ts).
import { z } from 'zod';

/** A text rule of domain/src/error.rs (`TextRule`, `Violations::text`). */
export interface TextRule {
  min: number;
  max: number;
  /** Line breaks and tabs allowed. */
  multiline: boolean;
}

// domain/src/error.rs: TITLE, DESCRIPTION, PAYMENT_METHOD, REASON.
export const TITLE: TextRule = { min: 1, max: 200, multiline: false };
export const DESCRIPTION: TextRule = { min: 0, max: 10_000, multiline: true };
export const PAYMENT_METHOD: TextRule = { min: 1, max: 100, multiline: false };
export const REASON: TextRule = { min: 0, max: 1_000, multiline: true };
// domain/src/user.rs: DISPLAY_NAME, MAX_EMAIL.
export const DISPLAY_NAME: TextRule = { min: 1, max: 100, multiline: false };
export const MAX_EMAIL = 254;
// domain/src/course.rs: MAX_CAPACITY (`check_capacity`: 1..=MAX_CAPACITY).
export const MAX_CAPACITY = 100_000;
// identity/src/password.rs: MIN_CHARS, MAX_CHARS.
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 128;
// domain/src/course.rs `Plan::parse` / commands/src/grpc/fields.rs `Fields::plan`.
export const PLANS = ['basic', 'pro'] as const;
// bff/src/routes/courses.rs `access`.
export const ACCESS_KINDS = ['free', 'paid', 'plan'] as const;
// domain/src/actor.rs `Role`.
export const ROLES = ['student', 'instructor', 'admin'] as const;

// Rust's `str::trim` strips Unicode White_Space (JavaScript's trim also strips U+FEFF).
const EDGE_SPACE = /^\p{White_Space}+|\p{White_Space}+$/gu;
export function rustTrim(text: string): string {
  return text.replace(EDGE_SPACE, '');
}

/** Characters, as Rust's `chars().count()` counts them (code points). */
export function charCount(text: string): number {
  return [...text].length;
}

const CONTROL = /\p{Cc}/u;
const BIDI = /[\u202A-\u202E\u2066-\u2069]/u;

/** domain/src/error.rs `text_chars_ok`. */
export function textCharsOk(text: string, multiline: boolean): boolean {
  for (const c of text) {
    if (c === '\n' || c === '\r' || c === '\t') {
      if (!multiline) return false;
    } else if (BIDI.test(c) || CONTROL.test(c)) {
      return false;
    }
  }
  return true;
}

/** domain/src/error.rs `Violations::text`: the message, or null when the text passes. */
export function checkText(value: string, rule: TextRule): string | null {
  const trimmed = rustTrim(value);
  const len = charCount(trimmed);
  if (len < rule.min || len > rule.max) {
    return rule.min === 0 ? `must be at most ${rule.max} characters` : `must be ${rule.min} to ${rule.max} characters`;
  }
  if (!textCharsOk(trimmed, rule.multiline)) {
    return rule.multiline
      ? 'must not contain control characters (line breaks and tabs aside) or bidirectional overrides'
      : 'must not contain control characters, line breaks or bidirectional overrides';
  }
  return null;
}

export function text(rule: TextRule) {
  return z.string().superRefine((value, ctx) => {
    const message = checkText(value, rule);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
}

/** domain/src/user.rs `normalize_email`. */
export function normalizeEmail(email: string): string {
  return rustTrim(email).toLowerCase();
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;
const ALPHANUMERIC = /^[\p{Alphabetic}\p{N}]$/u;
const WHITE_SPACE = /\p{White_Space}/u;

/** domain/src/user.rs `email_ok` (identity checks the normalized address). */
export function emailOk(email: string): boolean {
  const at = email.lastIndexOf('@');
  if (at < 0) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  return (
    utf8Length(email) <= MAX_EMAIL &&
    local.length > 0 &&
    utf8Length(local) <= 64 &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !domain.includes('..') &&
    [...email].every((c) => !CONTROL.test(c) && !WHITE_SPACE.test(c) && c !== '<' && c !== '>') &&
    [...domain].every((c) => ALPHANUMERIC.test(c) || c === '.' || c === '-')
  );
}

export const EMAIL_MESSAGE = 'must be an email address such as ada@example.com';

export const email = z.string().refine((v) => emailOk(normalizeEmail(v)), { message: EMAIL_MESSAGE });

/** identity/src/password.rs `violations`: the message, or null. */
export function checkPassword(password: string, emailAddress: string): string | null {
  const chars = charCount(password);
  if (chars < PASSWORD_MIN || chars > PASSWORD_MAX) {
    return `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`;
  }
  const normalized = normalizeEmail(emailAddress);
  if (normalized !== '' && rustTrim(password).toLowerCase() === normalized) {
    return 'must not be the email address';
  }
  return null;
}

/** `POST /api/auth/signup`: identity/src/service.rs `create_account` (password, then the
 * Register command's own checks in domain/src/user.rs). */
export const signUpSchema = z
  .object({
    email,
    password: z.string(),
    display_name: text(DISPLAY_NAME),
  })
  .superRefine((value, ctx) => {
    const message = checkPassword(value.password, value.email);
    if (message) ctx.addIssue({ code: 'custom', path: ['password'], message });
  });
export type SignUpValues = z.input<typeof signUpSchema>;

/** `POST /api/auth/login`: identity/src/service.rs (login: both "is required"). */
export const logInSchema = z.object({
  email: z.string().refine((v) => rustTrim(v) !== '', { message: 'is required' }),
  password: z.string().min(1, { message: 'is required' }),
});
export type LogInValues = z.input<typeof logInSchema>;

/** domain/src/course.rs `check_capacity`. The JSON field is a u32 (bff/src/routes/courses.rs). */
export const capacity = z
  .number({ error: 'must be a whole number' })
  .refine((n) => Number.isInteger(n), { message: 'must be a whole number' })
  .refine((n) => !Number.isInteger(n) || (n >= 1 && n <= MAX_CAPACITY), {
    message: `must be between 1 and ${MAX_CAPACITY}`,
  });

const plan = z.enum(PLANS, { error: 'must be "basic" or "pro"' });

/** bff/src/routes/courses.rs `access` + domain/src/course.rs `check_details`
 * (a paid course needs a price above zero) + commands/src/grpc/fields.rs `plan`. */
export const access = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('free') }),
    z.object({
      kind: z.literal('paid'),
      price_cents: z
        .number({ error: 'is required for a paid course' })
        .refine((n) => Number.isInteger(n), { message: 'must be a whole number of cents' })
        .refine((n) => !Number.isInteger(n) || n > 0, { message: 'a paid course needs a price above zero' }),
    }),
    z.object({ kind: z.literal('plan'), plan }),
  ],
  { error: 'must be one of free, paid, plan' },
);

/** `POST /api/courses`: domain/src/course.rs `CourseCommand::violations` (Create). */
export const createCourseSchema = z.object({
  title: text(TITLE),
  description: text(DESCRIPTION),
  capacity,
  access,
});
export type CreateCourseValues = z.input<typeof createCourseSchema>;
export type CreateCourseBody = z.output<typeof createCourseSchema>;

/** `POST .../modules` and `.../lessons`: domain/src/course.rs (AddModule / AddLesson: TITLE). */
export const titleSchema = z.object({ title: text(TITLE) });
export type TitleValues = z.input<typeof titleSchema>;

/** `PUT .../capacity`: domain/src/course.rs `check_capacity`. */
export const capacitySchema = z.object({ capacity });
export type CapacityValues = z.input<typeof capacitySchema>;

/** `POST /api/subscription/trial`: commands/src/grpc/fields.rs `plan`. */
export const trialSchema = z.object({ plan });
export type TrialValues = z.input<typeof trialSchema>;

/** `POST /api/subscription/activate`: domain/src/subscription.rs (PAYMENT_METHOD) + `plan`. */
export const activateSchema = z.object({ plan, payment_method: text(PAYMENT_METHOD) });
export type ActivateValues = z.input<typeof activateSchema>;

/** `POST /api/subscription/cancel` and `/api/enrollments/{id}/withdraw`:
 * domain/src/subscription.rs and domain/src/enrollment.rs (REASON). */
export const reasonSchema = z.object({ reason: text(REASON) });
export type ReasonValues = z.input<typeof reasonSchema>;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** `POST /api/admin/users/{user_id}/roles`: identity/src/service.rs (user_id "must be a
 * UUID") and domain/src/actor.rs `Role`. */
export const grantRoleSchema = z.object({
  user_id: z
    .string()
    .refine((v) => rustTrim(v) !== '', { message: 'is required' })
    .refine((v) => rustTrim(v) === '' || UUID.test(rustTrim(v)), { message: 'must be a UUID' }),
  role: z.enum(ROLES, { error: 'must be one of student, instructor, admin' }),
});
export type GrantRoleValues = z.input<typeof grantRoleSchema>;

/** `GET /api/courses?title=`: a search term (no server rule; kept to a title's length). */
export const searchSchema = z.object({
  title: z.string().refine((v) => charCount(v) <= TITLE.max, { message: `must be at most ${TITLE.max} characters` }),
});
export type SearchValues = z.input<typeof searchSchema>;
