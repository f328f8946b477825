// Each server rule mirrored in src/api/rules.ts, at its boundaries.
import { describe, expect, it } from 'vitest';
import {
  activateSchema,
  capacitySchema,
  checkPassword,
  checkText,
  createCourseSchema,
  emailOk,
  grantRoleSchema,
  logInSchema,
  reasonSchema,
  signUpSchema,
  titleSchema,
  trialSchema,
} from '../api/rules';

/** The messages zod gives, by field path. */
function issues(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) {
  const out: Record<string, string[]> = {};
  for (const issue of result.error?.issues ?? []) {
    const key = issue.path.map(String).join('.');
    (out[key] ??= []).push(issue.message);
  }
  return out;
}

const course = { title: 'Intro to Rust', description: '', capacity: 10, access: { kind: 'free' as const } };

describe('text rules (domain/src/error.rs)', () => {
  it('title: 1 to 200 characters after trimming', () => {
    expect(checkText('', { min: 1, max: 200, multiline: false })).toBe('must be 1 to 200 characters');
    expect(checkText('   ', { min: 1, max: 200, multiline: false })).toBe('must be 1 to 200 characters');
    expect(checkText('a', { min: 1, max: 200, multiline: false })).toBeNull();
    expect(checkText('a'.repeat(200), { min: 1, max: 200, multiline: false })).toBeNull();
    expect(checkText('a'.repeat(201), { min: 1, max: 200, multiline: false })).toBe('must be 1 to 200 characters');
    // Characters are code points, as Rust counts them: 200 emoji pass.
    expect(checkText('😀'.repeat(200), { min: 1, max: 200, multiline: false })).toBeNull();
    // Surrounding spaces do not count.
    expect(checkText(`  ${'a'.repeat(200)}  `, { min: 1, max: 200, multiline: false })).toBeNull();
  });

  it('single-line text refuses line breaks, control characters and bidi overrides', () => {
    const rule = { min: 1, max: 200, multiline: false };
    const message = 'must not contain control characters, line breaks or bidirectional overrides';
    expect(checkText('a\nb', rule)).toBe(message);
    expect(checkText('a\tb', rule)).toBe(message);
    expect(checkText('a\u0000b', rule)).toBe(message);
    expect(checkText('a\u0085b', rule)).toBe(message);
    expect(checkText('a\u202Eb', rule)).toBe(message);
    expect(checkText('a\u2066b', rule)).toBe(message);
    expect(checkText('Café – 中文', rule)).toBeNull();
  });

  it('multi-line text allows line breaks and tabs, not other controls', () => {
    const rule = { min: 0, max: 10_000, multiline: true };
    expect(checkText('line 1\nline 2\r\n\tindented', rule)).toBeNull();
    expect(checkText('a\u0007b', rule)).toBe(
      'must not contain control characters (line breaks and tabs aside) or bidirectional overrides',
    );
    expect(checkText('', rule)).toBeNull();
    expect(checkText('a'.repeat(10_000), rule)).toBeNull();
    expect(checkText('a'.repeat(10_001), rule)).toBe('must be at most 10000 characters');
  });
});

describe('create course (domain/src/course.rs check_details, check_capacity)', () => {
  it('accepts a valid course', () => {
    expect(createCourseSchema.safeParse(course).success).toBe(true);
  });

  it('title is required and at most 200 characters', () => {
    expect(issues(createCourseSchema.safeParse({ ...course, title: ' ' }))).toEqual({ title: ['must be 1 to 200 characters'] });
    expect(issues(createCourseSchema.safeParse({ ...course, title: 'x'.repeat(201) }))).toEqual({
      title: ['must be 1 to 200 characters'],
    });
  });

  it('description is at most 10000 characters', () => {
    expect(issues(createCourseSchema.safeParse({ ...course, description: 'x'.repeat(10_001) }))).toEqual({
      description: ['must be at most 10000 characters'],
    });
  });

  it('capacity is 1 to 100000', () => {
    expect(issues(createCourseSchema.safeParse({ ...course, capacity: 0 }))).toEqual({ capacity: ['must be between 1 and 100000'] });
    expect(createCourseSchema.safeParse({ ...course, capacity: 1 }).success).toBe(true);
    expect(createCourseSchema.safeParse({ ...course, capacity: 100_000 }).success).toBe(true);
    expect(issues(createCourseSchema.safeParse({ ...course, capacity: 100_001 }))).toEqual({
      capacity: ['must be between 1 and 100000'],
    });
    expect(issues(createCourseSchema.safeParse({ ...course, capacity: -1 }))).toEqual({ capacity: ['must be between 1 and 100000'] });
  });

  it('capacity must be a whole number (an empty number input is NaN)', () => {
    expect(issues(createCourseSchema.safeParse({ ...course, capacity: 1.5 }))).toEqual({ capacity: ['must be a whole number'] });
    expect(issues(createCourseSchema.safeParse({ ...course, capacity: Number.NaN }))).toEqual({ capacity: ['must be a whole number'] });
  });

  it('a paid course needs a price above zero', () => {
    expect(issues(createCourseSchema.safeParse({ ...course, access: { kind: 'paid', price_cents: 0 } }))).toEqual({
      'access.price_cents': ['a paid course needs a price above zero'],
    });
    expect(createCourseSchema.safeParse({ ...course, access: { kind: 'paid', price_cents: 1 } }).success).toBe(true);
    expect(issues(createCourseSchema.safeParse({ ...course, access: { kind: 'paid', price_cents: Number.NaN } }))).toEqual({
      'access.price_cents': ['is required for a paid course'],
    });
  });

  it('a plan course names basic or pro', () => {
    expect(createCourseSchema.safeParse({ ...course, access: { kind: 'plan', plan: 'pro' } }).success).toBe(true);
    expect(issues(createCourseSchema.safeParse({ ...course, access: { kind: 'plan', plan: 'gold' } }))).toEqual({
      'access.plan': ['must be "basic" or "pro"'],
    });
  });

  it('access kind is free, paid or plan', () => {
    expect(Object.keys(issues(createCourseSchema.safeParse({ ...course, access: { kind: 'barter' } })))).toEqual(['access.kind']);
  });

  it('reports every bad field at once, as the server does', () => {
    expect(Object.keys(issues(createCourseSchema.safeParse({ ...course, title: '', capacity: 0 }))).sort()).toEqual([
      'capacity',
      'title',
    ]);
  });
});

describe('modules, lessons and capacity changes', () => {
  it('module and lesson titles follow the title rule', () => {
    expect(titleSchema.safeParse({ title: 'Module 1' }).success).toBe(true);
    expect(issues(titleSchema.safeParse({ title: '' }))).toEqual({ title: ['must be 1 to 200 characters'] });
    expect(issues(titleSchema.safeParse({ title: 'a\nb' }))).toEqual({
      title: ['must not contain control characters, line breaks or bidirectional overrides'],
    });
  });

  it('a new capacity is 1 to 100000', () => {
    expect(capacitySchema.safeParse({ capacity: 5 }).success).toBe(true);
    expect(capacitySchema.safeParse({ capacity: 0 }).success).toBe(false);
    expect(capacitySchema.safeParse({ capacity: 100_001 }).success).toBe(false);
  });
});

describe('sign-up and login (identity/src/password.rs, domain/src/user.rs)', () => {
  const good = { email: 'ada@example.com', password: 'correct horse', display_name: 'Ada' };

  it('accepts a valid sign-up', () => {
    expect(signUpSchema.safeParse(good).success).toBe(true);
  });

  it('password is 10 to 128 characters', () => {
    expect(issues(signUpSchema.safeParse({ ...good, password: '123456789' }))).toEqual({ password: ['must be 10 to 128 characters'] });
    expect(signUpSchema.safeParse({ ...good, password: '1234567890' }).success).toBe(true);
    expect(signUpSchema.safeParse({ ...good, password: 'x'.repeat(128) }).success).toBe(true);
    expect(issues(signUpSchema.safeParse({ ...good, password: 'x'.repeat(129) }))).toEqual({ password: ['must be 10 to 128 characters'] });
  });

  it('password must not be the email address', () => {
    expect(checkPassword(' Ada.Lovelace@Example.com ', 'ada.lovelace@example.com')).toBe('must not be the email address');
    expect(issues(signUpSchema.safeParse({ ...good, email: 'someone@example.com', password: 'someone@example.com' }))).toEqual({
      password: ['must not be the email address'],
    });
  });

  it('email must look like local@domain.tld', () => {
    for (const bad of ['', 'ada', 'ada@', '@example.com', 'ada@example', 'ada@.example.com', 'ada@example.com.', 'ada@exa..mple.com', 'a da@example.com', 'ada@exa_mple.com', '<ada>@example.com']) {
      expect(emailOk(bad), bad).toBe(false);
    }
    expect(emailOk('ada@example.com')).toBe(true);
    expect(emailOk(`${'a'.repeat(64)}@example.com`)).toBe(true);
    expect(emailOk(`${'a'.repeat(65)}@example.com`)).toBe(false);
    expect(emailOk(`a@${'b'.repeat(248)}.com`)).toBe(true); // 254 bytes
    expect(emailOk(`a@${'b'.repeat(249)}.com`)).toBe(false); // 255 bytes
    expect(issues(signUpSchema.safeParse({ ...good, email: 'not-an-email' }))).toEqual({
      email: ['must be an email address such as ada@example.com'],
    });
    // Identity normalizes (trims, lower-cases) before checking.
    expect(signUpSchema.safeParse({ ...good, email: '  Ada@Example.COM ' }).success).toBe(true);
  });

  it('display name is 1 to 100 characters', () => {
    expect(issues(signUpSchema.safeParse({ ...good, display_name: '' }))).toEqual({ display_name: ['must be 1 to 100 characters'] });
    expect(signUpSchema.safeParse({ ...good, display_name: 'x'.repeat(100) }).success).toBe(true);
    expect(issues(signUpSchema.safeParse({ ...good, display_name: 'x'.repeat(101) }))).toEqual({
      display_name: ['must be 1 to 100 characters'],
    });
  });

  it('login needs both fields', () => {
    expect(issues(logInSchema.safeParse({ email: '', password: '' }))).toEqual({ email: ['is required'], password: ['is required'] });
    expect(logInSchema.safeParse({ email: 'a@b.co', password: 'x' }).success).toBe(true);
  });
});

describe('subscription, withdrawal and roles', () => {
  it('plan is basic or pro', () => {
    expect(trialSchema.safeParse({ plan: 'basic' }).success).toBe(true);
    expect(issues(trialSchema.safeParse({ plan: 'gold' }))).toEqual({ plan: ['must be "basic" or "pro"'] });
  });

  it('payment method is 1 to 100 characters', () => {
    expect(activateSchema.safeParse({ plan: 'pro', payment_method: 'pm_card_visa' }).success).toBe(true);
    expect(issues(activateSchema.safeParse({ plan: 'pro', payment_method: ' ' }))).toEqual({
      payment_method: ['must be 1 to 100 characters'],
    });
    expect(activateSchema.safeParse({ plan: 'pro', payment_method: 'x'.repeat(101) }).success).toBe(false);
  });

  it('reason is optional and at most 1000 characters', () => {
    expect(reasonSchema.safeParse({ reason: '' }).success).toBe(true);
    expect(reasonSchema.safeParse({ reason: 'x'.repeat(1000) }).success).toBe(true);
    expect(issues(reasonSchema.safeParse({ reason: 'x'.repeat(1001) }))).toEqual({ reason: ['must be at most 1000 characters'] });
  });

  it('a role grant names a UUID and a role', () => {
    const id = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    expect(grantRoleSchema.safeParse({ user_id: id, role: 'instructor' }).success).toBe(true);
    expect(issues(grantRoleSchema.safeParse({ user_id: 'nope', role: 'instructor' }))).toEqual({ user_id: ['must be a UUID'] });
    expect(issues(grantRoleSchema.safeParse({ user_id: '', role: 'instructor' }))).toEqual({ user_id: ['is required'] });
    expect(Object.keys(issues(grantRoleSchema.safeParse({ user_id: id, role: 'king' })))).toEqual(['role']);
  });
});
