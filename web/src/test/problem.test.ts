// problem+json → what a form shows.
import { describe, expect, it, vi } from 'vitest';
import { ApiError, toApiError, type Problem } from '../api/client';
import { applyServerErrors, formLevelMessage, problemMessage, splitViolations } from '../api/problem';

const invalid: Problem = {
  type: 'urn:lms:problem:invalid_argument',
  title: 'Bad Request',
  status: 400,
  detail: 'invalid request: title: must be 1 to 200 characters; capacity: must be between 1 and 100000',
  reason: 'INVALID_ARGUMENT',
  violations: [
    { field: 'title', description: 'must be 1 to 200 characters' },
    { field: 'capacity', description: 'must be between 1 and 100000' },
    { field: 'access.price_cents', description: 'a paid course needs a price above zero' },
  ],
};

describe('toApiError', () => {
  it('reads a problem+json reply', async () => {
    const response = new Response(JSON.stringify(invalid), {
      status: 400,
      headers: { 'Content-Type': 'application/problem+json' },
    });
    const error = await toApiError(response);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.reason).toBe('INVALID_ARGUMENT');
    expect(error.violations).toHaveLength(3);
  });

  it('makes a problem of a reply that is not one', async () => {
    const error = await toApiError(new Response('<html>oops</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(error.status).toBe(502);
    expect(error.violations).toEqual([]);
    expect(error.problem.detail).toContain('502');
  });
});

describe('splitViolations', () => {
  it('puts violations on the form fields that match exactly, nested ones too', () => {
    const { fields, other } = splitViolations(invalid.violations!, ['title', 'capacity', 'access.price_cents']);
    expect(fields).toEqual({
      title: 'must be 1 to 200 characters',
      capacity: 'must be between 1 and 100000',
      'access.price_cents': 'a paid course needs a price above zero',
    });
    expect(other).toEqual([]);
  });

  it('keeps the violations of fields the form lacks', () => {
    const { fields, other } = splitViolations(invalid.violations!, ['title']);
    expect(Object.keys(fields)).toEqual(['title']);
    expect(other.map((v) => v.field)).toEqual(['capacity', 'access.price_cents']);
  });

  it('joins two violations of one field', () => {
    const { fields } = splitViolations(
      [
        { field: 'password', description: 'a' },
        { field: 'password', description: 'b' },
      ],
      ['password'],
    );
    expect(fields.password).toBe('a; b');
  });
});

describe('form-level messages', () => {
  it('is null when every violation is beside a field', () => {
    expect(formLevelMessage(new ApiError(invalid), ['title', 'capacity', 'access.price_cents'])).toBeNull();
  });

  it('lists the violations no field shows', () => {
    expect(formLevelMessage(new ApiError(invalid), ['title', 'capacity'])).toBe(
      'access.price_cents: a paid course needs a price above zero (INVALID_ARGUMENT)',
    );
  });

  it('words a known reason, with its code', () => {
    const full = new ApiError({ type: 'x', title: 'Conflict', status: 409, detail: 'the course is full', reason: 'COURSE_FULL' });
    expect(problemMessage(full)).toBe('Course full (COURSE_FULL)');
    const mine = new ApiError({ type: 'x', title: 'Forbidden', status: 403, detail: 'not yours', reason: 'NOT_YOUR_DATA' });
    expect(problemMessage(mine)).toMatch(/not allowed.*NOT_YOUR_DATA/);
  });

  it("shows the server's detail for an unknown reason", () => {
    const odd = new ApiError({ type: 'x', title: 'Conflict', status: 409, detail: 'something odd', reason: 'ODD' });
    expect(formLevelMessage(odd, ['title'])).toBe('something odd (ODD)');
  });

  it('sets the field errors on the form', () => {
    const setError = vi.fn();
    const message = applyServerErrors(new ApiError(invalid), setError, ['title', 'capacity']);
    expect(setError).toHaveBeenCalledWith('title', { type: 'server', message: 'must be 1 to 200 characters' }, { shouldFocus: true });
    expect(setError).toHaveBeenCalledWith('capacity', { type: 'server', message: 'must be between 1 and 100000' }, { shouldFocus: true });
    expect(message).toContain('access.price_cents');
  });
});
