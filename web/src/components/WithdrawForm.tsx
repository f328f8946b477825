import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { api } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { keys, recordWrite, scopes } from '../api/queries';
import { reasonSchema, type ReasonValues } from '../api/rules';
import { FormError, TextArea } from './fields';

/** Withdraws the student from one enrollment (`POST /api/enrollments/{id}/withdraw`). */
export function WithdrawForm({ enrollmentId, courseId, courseTitle }: { enrollmentId: string; courseId: string; courseTitle: string }) {
  const client = useQueryClient();
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<ReasonValues>({ resolver: zodResolver(reasonSchema), defaultValues: { reason: '' } });
  const withdraw = useMutation({
    mutationFn: (body: ReasonValues) =>
      api.post('/api/enrollments/{enrollment_id}/withdraw', { path: { enrollment_id: enrollmentId }, body }),
    onSuccess: async (result) => {
      recordWrite(result, scopes.dashboard, scopes.roster(courseId));
      await Promise.all([
        client.invalidateQueries({ queryKey: keys.dashboard }),
        client.invalidateQueries({ queryKey: keys.course(courseId) }),
      ]);
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['reason'])),
  });
  return (
    <details className="withdraw">
      <summary>Withdraw from {courseTitle}</summary>
      <form
        noValidate
        onSubmit={form.handleSubmit((v) => {
          setFormError(null);
          withdraw.mutate(v);
        })}
      >
        <FormError message={formError} />
        <TextArea label="Reason" hint="Optional, at most 1000 characters." rows={2} error={form.formState.errors.reason?.message} {...form.register('reason')} />
        <button type="submit" className="danger" disabled={withdraw.isPending}>
          Withdraw
        </button>
      </form>
    </details>
  );
}
