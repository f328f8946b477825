// The create-course form: bad values show field errors and send nothing;
// the server's violations land beside their fields.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setCsrfToken } from '../api/client';
import { CreateCourseForm } from '../pages/CreateCourse';

function renderForm() {
  const onCreated = vi.fn();
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <CreateCourseForm onCreated={onCreated} />
    </QueryClientProvider>,
  );
  return { onCreated };
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('CreateCourseForm', () => {
  it('shows field errors for bad values and makes no request', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    renderForm();

    fireEvent.change(screen.getByLabelText('Title'), { target: { value: '   ' } });
    fireEvent.change(screen.getByLabelText('Capacity'), { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create course' }));

    const title = screen.getByLabelText('Title');
    await waitFor(() => expect(title.getAttribute('aria-invalid')).toBe('true'));
    const titleError = document.getElementById(title.getAttribute('aria-describedby')!.split(' ').pop()!);
    expect(titleError?.textContent).toBe('must be 1 to 200 characters');
    const capacity = screen.getByLabelText('Capacity');
    expect(capacity.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('must be between 1 and 100000')).toBeTruthy();
    expect(screen.getAllByRole('alert').length).toBeGreaterThanOrEqual(2);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('a paid course without a price shows the price error, no request', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    renderForm();
    fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'Rust' } });
    fireEvent.change(screen.getByLabelText('Access'), { target: { value: 'paid' } });
    fireEvent.change(await screen.findByLabelText('Price (cents)'), { target: { value: '0' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create course' }));
    expect(await screen.findByText('a paid course needs a price above zero')).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("shows the server's violations beside the fields, with the CSRF header sent", async () => {
    setCsrfToken('token-1');
    const problem = {
      type: 'urn:lms:problem:invalid_argument',
      title: 'Bad Request',
      status: 400,
      detail: 'invalid request',
      reason: 'INVALID_ARGUMENT',
      violations: [{ field: 'title', description: 'already taken on the server' }],
    };
    const fetchMock = vi.fn(async () =>
      new Response(JSON.stringify(problem), { status: 400, headers: { 'Content-Type': 'application/problem+json' } }),
    );
    vi.stubGlobal('fetch', fetchMock);
    renderForm();
    fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'Rust' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create course' }));

    expect(await screen.findByText('already taken on the server')).toBeTruthy();
    expect(screen.getByLabelText('Title').getAttribute('aria-invalid')).toBe('true');
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/courses');
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('token-1');
    expect(init.credentials).toBe('same-origin');
    expect(JSON.parse(init.body as string)).toEqual({ title: 'Rust', description: '', capacity: 30, access: { kind: 'free' } });
  });
});
