import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { startSession } from '../api/queries';
import { logInSchema, type LogInValues } from '../api/rules';
import { homeFor } from '../auth';
import { FormError, TextField } from '../components/fields';
import { usePageTitle } from '../components/usePageTitle';

const FIELDS = ['email', 'password'] as const;

/** Only a path of this app (never another site) is a place to go back to. */
function safeNext(next: string | null): string | null {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

export function LogInPage() {
  usePageTitle('Log in');
  const client = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<LogInValues>({ resolver: zodResolver(logInSchema), defaultValues: { email: '', password: '' } });
  const { errors } = form.formState;

  const logIn = useMutation({
    mutationFn: (values: LogInValues) => api.post('/api/auth/login', { body: values }),
    onSuccess: (session) => {
      startSession(client, session);
      navigate(safeNext(params.get('next')) ?? homeFor(session));
    },
    onError: (error) => setFormError(applyServerErrors(error, form.setError, FIELDS)),
  });

  return (
    <section className="narrow">
      <h1>Log in</h1>
      <form
        noValidate
        onSubmit={form.handleSubmit((values) => {
          setFormError(null);
          logIn.mutate(values);
        })}
      >
        <FormError message={formError} />
        <TextField label="Email" type="email" autoComplete="username" error={errors.email?.message} {...form.register('email')} />
        <TextField
          label="Password"
          type="password"
          autoComplete="current-password"
          error={errors.password?.message}
          {...form.register('password')}
        />
        <button type="submit" disabled={logIn.isPending}>
          {logIn.isPending ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p>
        No account yet? <Link to="/signup">Sign up</Link>
      </p>
    </section>
  );
}
