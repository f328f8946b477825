import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useNavigate } from 'react-router';
import { api } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { recordWrite, scopes } from '../api/queries';
import { createCourseSchema, MAX_CAPACITY, type CreateCourseBody, type CreateCourseValues } from '../api/rules';
import { FormError, SelectField, TextArea, TextField } from '../components/fields';
import { usePageTitle } from '../components/usePageTitle';

// The form's fields, named as the API names them (violations land on them).
const FIELDS = ['title', 'description', 'capacity', 'access.kind', 'access.price_cents', 'access.plan'] as const;

export function CreateCourseForm({ onCreated }: { onCreated: (courseId: string) => void }) {
  const client = useQueryClient();
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<CreateCourseValues, unknown, CreateCourseBody>({
    resolver: zodResolver(createCourseSchema),
    defaultValues: { title: '', description: '', capacity: 30, access: { kind: 'free' } },
  });
  const { errors } = form.formState;
  const kind = form.watch('access.kind');
  // The access errors of whichever kind is chosen.
  const accessErrors = errors.access as
    | { kind?: { message?: string }; price_cents?: { message?: string }; plan?: { message?: string } }
    | undefined;

  const create = useMutation({
    mutationFn: (body: CreateCourseBody) => api.post('/api/courses', { body }),
    onSuccess: async (result) => {
      const courseId = result.created_id ?? result.aggregate_id;
      recordWrite(result, scopes.course(courseId), scopes.myCourses);
      await client.invalidateQueries({ queryKey: ['courses'] });
      onCreated(courseId);
    },
    onError: (e) => setFormError(applyServerErrors(e, form.setError, FIELDS)),
  });

  return (
    <form
      noValidate
      onSubmit={form.handleSubmit((body) => {
        setFormError(null);
        create.mutate(body);
      })}
    >
      <FormError message={formError} />
      <TextField label="Title" hint="1 to 200 characters." error={errors.title?.message} {...form.register('title')} />
      <TextArea label="Description" rows={4} hint="Optional, at most 10000 characters." error={errors.description?.message} {...form.register('description')} />
      <TextField
        label="Capacity"
        type="number"
        inputMode="numeric"
        min={1}
        max={MAX_CAPACITY}
        step={1}
        hint={`Seats, 1 to ${MAX_CAPACITY}.`}
        error={errors.capacity?.message}
        {...form.register('capacity', { valueAsNumber: true })}
      />
      <SelectField label="Access" error={accessErrors?.kind?.message} {...form.register('access.kind')}>
        <option value="free">Free</option>
        <option value="paid">Paid</option>
        <option value="plan">Included in a plan</option>
      </SelectField>
      {kind === 'paid' ? (
        <TextField
          label="Price (cents)"
          type="number"
          inputMode="numeric"
          min={1}
          step={1}
          error={accessErrors?.price_cents?.message}
          {...form.register('access.price_cents', { valueAsNumber: true })}
        />
      ) : null}
      {kind === 'plan' ? (
        <SelectField label="Plan" error={accessErrors?.plan?.message} {...form.register('access.plan')}>
          <option value="basic">Basic</option>
          <option value="pro">Pro</option>
        </SelectField>
      ) : null}
      <button type="submit" disabled={create.isPending}>
        {create.isPending ? 'Creating…' : 'Create course'}
      </button>
    </form>
  );
}

export function CreateCoursePage() {
  usePageTitle('New course');
  const navigate = useNavigate();
  return (
    <section className="narrow">
      <h1>New course</h1>
      <p>The course starts as a draft that only you see. Add modules and lessons, then publish it.</p>
      <CreateCourseForm onCreated={(id) => navigate(`/instructor/courses/${id}`)} />
    </section>
  );
}
