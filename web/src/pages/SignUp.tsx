import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { Link, useNavigate } from 'react-router';
import { api } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { startSession } from '../api/queries';
import { signUpSchema, type SignUpValues } from '../api/rules';
import { homeFor } from '../auth';
import { FormError, TextField } from '../components/fields';
import { usePageTitle } from '../components/usePageTitle';

const FIELDS = ['email', 'password', 'display_name'] as const;

export function SignUpPage() {
  usePageTitle('Sign up');
  const client = useQueryClient();
  const navigate = useNavigate();
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<SignUpValues>({
    resolver: zodResolver(signUpSchema),
    defaultValues: { email: '', password: '', display_name: '' },
  });
  const { errors } = form.formState;

  const signUp = useMutation({
    mutationFn: (values: SignUpValues) => api.post('/api/auth/signup', { body: values }),
    onSuccess: (session) => {
      startSession(client, session);
      navigate(homeFor(session));
    },
    onError: (error) => setFormError(applyServerErrors(error, form.setError, FIELDS)),
  });

  return (
    <section className="narrow">
      <h1>Sign up</h1>
      <p>Create a student account. Instructors are granted their role by an admin.</p>
      <form
        noValidate
        onSubmit={form.handleSubmit((values) => {
          setFormError(null);
          signUp.mutate(values);
        })}
      >
        <FormError message={formError} />
        <TextField label="Display name" autoComplete="name" error={errors.display_name?.message} {...form.register('display_name')} />
        <TextField label="Email" type="email" autoComplete="email" error={errors.email?.message} {...form.register('email')} />
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="10 to 128 characters, not your email address."
          error={errors.password?.message}
          {...form.register('password')}
        />
        <button type="submit" disabled={signUp.isPending}>
          {signUp.isPending ? 'Signing up…' : 'Sign up'}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </section>
  );
}
