import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { api } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { grantRoleSchema, ROLES, type GrantRoleValues } from '../api/rules';
import { FormError, FormSuccess, SelectField, TextField } from '../components/fields';
import { usePageTitle } from '../components/usePageTitle';

export function AdminUsersPage() {
  usePageTitle('Users');
  const [formError, setFormError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const form = useForm<GrantRoleValues>({ resolver: zodResolver(grantRoleSchema), defaultValues: { user_id: '', role: 'instructor' } });
  const { errors } = form.formState;
  const grant = useMutation({
    mutationFn: (v: GrantRoleValues) =>
      api.post('/api/admin/users/{user_id}/roles', { path: { user_id: v.user_id.trim() }, body: { role: v.role } }),
    onSuccess: (_r, v) => {
      setDone(`Granted the ${v.role} role to ${v.user_id.trim()}. It takes effect at the user's next sign-in.`);
      form.reset({ user_id: '', role: v.role });
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['user_id', 'role'])),
  });
  return (
    <section className="narrow">
      <h1>Users</h1>
      <p>
        Grant a role to a user by their user ID (a user finds theirs in their profile, <code>GET /api/me</code>; a
        sign-up's reply carries it too).
      </p>
      <form
        noValidate
       
        onSubmit={form.handleSubmit((v) => {
          setFormError(null);
          setDone(null);
          grant.mutate(v);
        })}
      >
        <h2 id="grant-heading">Grant a role</h2>
        <FormError message={formError} />
        <TextField label="User ID" autoComplete="off" spellCheck={false} error={errors.user_id?.message} {...form.register('user_id')} />
        <SelectField label="Role" error={errors.role?.message} {...form.register('role')}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <button type="submit" disabled={grant.isPending}>
          Grant role
        </button>
        <FormSuccess message={done} />
      </form>
    </section>
  );
}
