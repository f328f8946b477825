import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { Link } from 'react-router';
import { api, type CommandResult, type SessionView } from '../api/client';
import { applyServerErrors } from '../api/problem';
import { keys, recordWrite, scopes, useSubscription } from '../api/queries';
import {
  activateSchema,
  PLANS,
  reasonSchema,
  trialSchema,
  type ActivateValues,
  type ReasonValues,
  type TrialValues,
} from '../api/rules';
import { FormError, FormSuccess, SelectField, TextArea, TextField } from '../components/fields';
import { ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

function formatDate(value?: string | null): string {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleString();
}

/** After a subscription command: the next reads wait for it. */
function useAfterBillingWrite(onDone: (message: string) => void) {
  const client = useQueryClient();
  return async (result: CommandResult, message: string) => {
    recordWrite(result, scopes.billing);
    await Promise.all([
      client.invalidateQueries({ queryKey: keys.subscription }),
      client.invalidateQueries({ queryKey: ['invoices'] }),
    ]);
    onDone(message);
  };
}

function PlanOptions() {
  return (
    <>
      {PLANS.map((p) => (
        <option key={p} value={p}>
          {p === 'basic' ? 'Basic' : 'Pro'}
        </option>
      ))}
    </>
  );
}

function TrialForm({ onDone }: { onDone: (m: string) => void }) {
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<TrialValues>({ resolver: zodResolver(trialSchema), defaultValues: { plan: 'basic' } });
  const after = useAfterBillingWrite(onDone);
  const trial = useMutation({
    mutationFn: (v: TrialValues) => api.post('/api/subscription/trial', { body: v }),
    onSuccess: (r) => after(r, 'Your trial has started.'),
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['plan'])),
  });
  return (
    <form noValidate onSubmit={form.handleSubmit((v) => (setFormError(null), trial.mutate(v)))}>
      <h2 id="trial-heading">Start a free trial</h2>
      <FormError message={formError} />
      <SelectField label="Plan" error={form.formState.errors.plan?.message} {...form.register('plan')}>
        <PlanOptions />
      </SelectField>
      <button type="submit" disabled={trial.isPending}>
        Start trial
      </button>
    </form>
  );
}

function ActivateForm({ plan, onDone }: { plan: string; onDone: (m: string) => void }) {
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<ActivateValues>({
    resolver: zodResolver(activateSchema),
    defaultValues: { plan: (PLANS as readonly string[]).includes(plan) ? (plan as ActivateValues['plan']) : 'basic', payment_method: '' },
  });
  const { errors } = form.formState;
  const after = useAfterBillingWrite(onDone);
  const activate = useMutation({
    mutationFn: (v: ActivateValues) => api.post('/api/subscription/activate', { body: v }),
    onSuccess: (r) => after(r, 'Your subscription is active.'),
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['plan', 'payment_method'])),
  });
  return (
    <form noValidate onSubmit={form.handleSubmit((v) => (setFormError(null), activate.mutate(v)))}>
      <h2 id="activate-heading">Activate your subscription</h2>
      <FormError message={formError} />
      <SelectField label="Plan" error={errors.plan?.message} {...form.register('plan')}>
        <PlanOptions />
      </SelectField>
      <TextField
        label="Payment method"
        autoComplete="off"
        hint={
          <>
            Sandbox cards: <code>pm_card_visa</code> is accepted, <code>pm_card_declined</code> is declined.
          </>
        }
        error={errors.payment_method?.message}
        {...form.register('payment_method')}
      />
      <button type="submit" disabled={activate.isPending}>
        Activate
      </button>
    </form>
  );
}

function CancelForm({ onDone }: { onDone: (m: string) => void }) {
  const [formError, setFormError] = useState<string | null>(null);
  const form = useForm<ReasonValues>({ resolver: zodResolver(reasonSchema), defaultValues: { reason: '' } });
  const after = useAfterBillingWrite(onDone);
  const cancel = useMutation({
    mutationFn: (v: ReasonValues) => api.post('/api/subscription/cancel', { body: v }),
    onSuccess: (r) => after(r, 'Your subscription is cancelled.'),
    onError: (e) => setFormError(applyServerErrors(e, form.setError, ['reason'])),
  });
  return (
    <form noValidate onSubmit={form.handleSubmit((v) => (setFormError(null), cancel.mutate(v)))}>
      <h2 id="cancel-heading">Cancel your subscription</h2>
      <FormError message={formError} />
      <TextArea label="Reason" hint="Optional, at most 1000 characters." rows={3} error={form.formState.errors.reason?.message} {...form.register('reason')} />
      <button type="submit" className="danger" disabled={cancel.isPending}>
        Cancel subscription
      </button>
    </form>
  );
}

export function SubscriptionPage({ session }: { session: SessionView }) {
  usePageTitle('Subscription');
  const subscription = useSubscription();
  const [done, setDone] = useState<string | null>(null);
  const s = subscription.data;
  return (
    <section>
      <h1>Subscription</h1>
      <p>
        <Link to={`/students/${session.user_id}/invoices`}>Your invoices</Link>
      </p>
      <FormSuccess message={done} />
      {subscription.isPending ? (
        <Loading what="Loading your subscription" />
      ) : subscription.isError ? (
        <ErrorState error={subscription.error} onRetry={() => subscription.refetch()} />
      ) : s === null || s === undefined ? (
        <>
          <p className="empty">You have no subscription yet.</p>
          <div className="card">
            <TrialForm onDone={setDone} />
          </div>
        </>
      ) : (
        <>
          <dl className="facts" aria-label="Your subscription">
            <dt>Plan</dt>
            <dd>{s.plan}</dd>
            <dt>Status</dt>
            <dd>
              <span className={`badge badge-${s.status}`} data-testid="subscription-status">
                {s.status}
              </span>
            </dd>
            {s.trial_ends_at ? (
              <>
                <dt>Trial ends</dt>
                <dd>{formatDate(s.trial_ends_at)}</dd>
              </>
            ) : null}
            {s.current_period_end ? (
              <>
                <dt>Current period ends</dt>
                <dd>{formatDate(s.current_period_end)}</dd>
              </>
            ) : null}
          </dl>
          {s.status === 'trialing' || s.status === 'past_due' ? (
            <div className="card">
              <ActivateForm plan={s.plan} onDone={setDone} />
            </div>
          ) : null}
          {s.status !== 'cancelled' ? (
            <div className="card">
              <CancelForm onDone={setDone} />
            </div>
          ) : (
            <p>Your subscription is cancelled.</p>
          )}
        </>
      )}
    </section>
  );
}
